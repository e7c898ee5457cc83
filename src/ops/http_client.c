/*
 * http_client.c: the libcurl options backlogd's HTTP clients share, set in
 * one place so that the registry's and the agents' transports cannot drift
 * apart (a redirect followed by one and not the other, say).
 */
#include "ops/http_client.h"

struct curl_slist *bl_http_client_headers(const char *const *lines, size_t count) {
        struct curl_slist *headers = NULL;
        for (size_t i = 0; i < count && lines[i]; i++) {
                struct curl_slist *appended = curl_slist_append(headers, lines[i]);
                if (!appended) {
                        curl_slist_free_all(headers);
                        return NULL;
                }
                headers = appended;
        }
        return headers;
}

CURLcode bl_http_client_transport(CURL *curl, long timeout_ms, curl_off_t max_body_bytes, char *error_buffer) {
        CURLcode rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        if (!rc)
#if LIBCURL_VERSION_NUM >= 0x075500
                rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
                rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, max_body_bytes);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_USERAGENT, "backlogd/" BL_VERSION);
        return rc;
}
