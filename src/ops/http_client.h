/*
 * http_client.h: what every libcurl client of backlogd sets the same way
 * (the Schema Registry client, the agents' client): the request headers as
 * one list, and the transport options — no signals, http and https only, no
 * redirect followed, one timeout for the connect and one for the whole
 * exchange, a bound on the response body, an error buffer, the user agent.
 */
#ifndef BL_OPS_HTTP_CLIENT_H
#define BL_OPS_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>

/** A header list of the first @p count of @p lines, stopping at a NULL line; NULL when out of memory. */
struct curl_slist *bl_http_client_headers(const char *const *lines, size_t count);

/** The transport options above on @p curl; @p error_buffer is CURL_ERROR_SIZE bytes that outlive it. */
CURLcode bl_http_client_transport(CURL *curl, long timeout_ms, curl_off_t max_body_bytes, char *error_buffer);

#endif
