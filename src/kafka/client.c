/*
 * client.c: make librdkafka handles and bridge their logs.
 *
 * librdkafka logs from its own threads through log_cb; bl_log writes each
 * line with one stdio call, so that is safe. Its syslog levels map onto ours
 * (0-3 error, 4 warn, 5-6 info, 7 debug), under module "rdkafka". error_cb
 * reports connection trouble as warnings: librdkafka retries by itself, and
 * the caller's timeout decides when to give up.
 *
 * backlogd builds on a librdkafka of at least 2.6.1 (scripts/librdkafka.sh
 * builds 2.12.0): older ones send a SCRAM proof that Kafka 4 rejects
 * (librdkafka bug #4895), so a build against Debian 12's 2.0.2 fails here.
 */
#include "kafka/client.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

#if RD_KAFKA_VERSION < 0x020601ff
#error "librdkafka >= 2.6.1 is needed (SCRAM against Kafka 4): build it with scripts/librdkafka.sh"
#endif

void bl_kafka_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        bl_log_level_t ours = level <= 3 ? BL_LOG_ERROR : level == 4 ? BL_LOG_WARN
                              : level <= 6 ? BL_LOG_INFO : BL_LOG_DEBUG;
        bl_log(ours, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), facility, message);
}

/*
 * The first cause of connection trouble, process-wide (every handle of one process talks to one cluster):
 * librdkafka retries each failure for ever and the caller's timeout ends it, by when only "no answer"
 * would be left to say. "All brokers are down" is a consequence; it is kept only until a cause comes.
 */
static struct {
        pthread_mutex_t lock;
        char cause[BL_KAFKA_TROUBLE_MAX];
        bool permanent;   /* a certificate or credentials refused: retrying will not help */
        bool consequence; /* what is kept is only "all brokers down" */
} trouble = {PTHREAD_MUTEX_INITIALIZER, "", false, false};

static void note_trouble(const char *cause, bool permanent, bool consequence) {
        pthread_mutex_lock(&trouble.lock);
        if (!trouble.cause[0] || (trouble.consequence && !consequence)) {
                snprintf(trouble.cause, sizeof(trouble.cause), "%s", cause);
                trouble.permanent = permanent;
                trouble.consequence = consequence;
        }
        pthread_mutex_unlock(&trouble.lock);
}

bool bl_kafka_trouble(char *cause, size_t cause_size, bool *permanent) {
        pthread_mutex_lock(&trouble.lock);
        bool known = trouble.cause[0] != '\0';
        if (known)
                snprintf(cause, cause_size, "%s", trouble.cause);
        if (permanent)
                *permanent = known && trouble.permanent;
        pthread_mutex_unlock(&trouble.lock);
        return known;
}

void bl_kafka_trouble_clear(void) {
        pthread_mutex_lock(&trouble.lock);
        trouble.cause[0] = '\0';
        trouble.permanent = trouble.consequence = false;
        pthread_mutex_unlock(&trouble.lock);
}

/* The certificate's subject, or its issuer, as "CN=broker,O=acme" (RFC 2253 without escaping surprises). */
static void name_of(X509_NAME *name, char *out, size_t out_size) {
        BIO *bio = BIO_new(BIO_s_mem());
        int length = bio ? X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) : -1;
        if (length < 0) {
                snprintf(out, out_size, "?");
        } else {
                char *text;
                long size = BIO_get_mem_data(bio, &text);
                snprintf(out, out_size, "%.*s", (int)size, text);
        }
        BIO_free(bio);
}

/* "notAfter Jan  1 00:00:00 2020 GMT" for the validity errors, "" for the others. */
static void validity_of(X509 *cert, int x509_error, char *out, size_t out_size) {
        const ASN1_TIME *when = x509_error == X509_V_ERR_CERT_HAS_EXPIRED       ? X509_get0_notAfter(cert)
                                : x509_error == X509_V_ERR_CERT_NOT_YET_VALID ? X509_get0_notBefore(cert)
                                                                              : NULL;
        BIO *bio = when ? BIO_new(BIO_s_mem()) : NULL;
        out[0] = '\0';
        if (bio && ASN1_TIME_print(bio, when) > 0) {
                char *text;
                long size = BIO_get_mem_data(bio, &text);
                snprintf(out, out_size, ", %s %.*s", x509_error == X509_V_ERR_CERT_HAS_EXPIRED ? "valid until"
                                                                                             : "valid from",
                         (int)size, text);
        }
        BIO_free(bio);
}

/* The names a certificate is made out to (its subjectAltName DNS and IP entries), as "a, b". */
static void alt_names_of(X509 *cert, char *out, size_t out_size) {
        GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        size_t used = 0;
        out[0] = '\0';
        for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && used + 1 < out_size; i++) {
                const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
                char ip[64] = "";
                if (name->type == GEN_DNS) {
                        const ASN1_STRING *dns = name->d.dNSName;
                        used += (size_t)snprintf(out + used, out_size - used, "%s%.*s", used ? ", " : "",
                                                 ASN1_STRING_length(dns), (const char *)ASN1_STRING_get0_data(dns));
                } else if (name->type == GEN_IPADD && name->d.iPAddress->length == 4) {
                        const unsigned char *a = name->d.iPAddress->data;
                        snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
                        used += (size_t)snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", ip);
                }
        }
        GENERAL_NAMES_free(names);
}

/*
 * librdkafka's certificate check with the first cause spelt out: OpenSSL's verdict on the broker's
 * certificate (expired, another host's, an unknown issuer), its subject and the host that was expected.
 * Without it, every one of these reads "broker certificate could not be verified" like a wrong CA.
 */
static int verify_certificate(rd_kafka_t *rk, const char *broker_name, int32_t broker_id, int *x509_error,
                              int depth, const char *der, size_t der_size, char *errstr, size_t errstr_size,
                              void *opaque) {
        (void)rk, (void)broker_id, (void)opaque;
        if (*x509_error == X509_V_OK)
                return 1;
        const unsigned char *bytes = (const unsigned char *)der;
        X509 *cert = d2i_X509(NULL, &bytes, (long)der_size);
        bool mismatch = *x509_error == X509_V_ERR_HOSTNAME_MISMATCH || *x509_error == X509_V_ERR_IP_ADDRESS_MISMATCH;
        char subject[256] = "?", validity[96] = "", names[256] = "", host[256];
        if (cert) {
                name_of(X509_get_subject_name(cert), subject, sizeof(subject));
                validity_of(cert, *x509_error, validity, sizeof(validity));
                if (mismatch)
                        alt_names_of(cert, names, sizeof(names));
                X509_free(cert);
        }
        snprintf(host, sizeof(host), "%s", broker_name);
        char *slash = strrchr(host, '/'); /* librdkafka's node name is "host:port/id" */
        if (slash)
                *slash = '\0';
        snprintf(errstr, errstr_size, "%s: the certificate %s (depth %d, subject %s%s)%s%s%s%s%s",
                 X509_verify_cert_error_string(*x509_error), depth ? "of an issuer" : "of the broker", depth,
                 subject, validity, mismatch ? " does not name " : "", mismatch ? host : "",
                 names[0] ? " (it names " : "", names, names[0] ? ")" : "");
        char cause[BL_KAFKA_TROUBLE_MAX];
        snprintf(cause, sizeof(cause), "TLS with %s failed: %s", host, errstr);
        note_trouble(cause, true, false);
        return 0;
}

/* Connection failures librdkafka keeps retrying: the first cause is kept (bl_kafka_trouble). */
static void note_connection_error(int err, const char *reason) {
        switch (err) {
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR__SSL: note_trouble(reason, true, false); break;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__RESOLVE:
        case RD_KAFKA_RESP_ERR__TIMED_OUT: note_trouble(reason, false, false); break;
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: note_trouble(reason, false, true); break;
        default: break;
        }
}

static void error_bridge(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)opaque;
        note_connection_error(err, reason);
        bl_log(rd_kafka_fatal_error(rk, NULL, 0) ? BL_LOG_ERROR : BL_LOG_WARN, "rdkafka", "%s: %s: %s",
               rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/*
 * librdkafka's transaction manager tells which partition AddPartitionsToTxn refused only in its log, e.g.
 * ADDPARTS "Failed to add partition "backlog.dlq" [0] to transaction: Broker: Topic authorization failed";
 * the error the commit returns names no topic.
 */
bool bl_kafka_refused_partition(const char *facility, const char *message, char *topic, size_t topic_size,
                                const char **cause) {
        static const char prefix[] = "Failed to add partition \"";
        const char *start, *end, *colon;
        if (strcmp(facility, "ADDPARTS") || strncmp(message, prefix, sizeof(prefix) - 1))
                return false;
        start = message + sizeof(prefix) - 1;
        if (!(end = strstr(start, "\" [")) || !(colon = strstr(end, "to transaction: ")) || topic_size == 0)
                return false;
        snprintf(topic, topic_size, "%.*s", (int)(end - start), start);
        *cause = colon + strlen("to transaction: ");
        return true;
}

/* TLS is on and the broker's certificate is checked (with the check off, there is nothing to explain). */
static bool verifies_certificates(const rd_kafka_conf_t *conf) {
        char protocol[32] = "", verify[16] = "true";
        size_t protocol_size = sizeof(protocol), verify_size = sizeof(verify);
        rd_kafka_conf_get(conf, "security.protocol", protocol, &protocol_size);
        rd_kafka_conf_get(conf, "enable.ssl.certificate.verification", verify, &verify_size);
        return (strstr(protocol, "ssl") || strstr(protocol, "SSL")) && strcmp(verify, "false");
}

rd_kafka_conf_t *bl_kafka_conf_new(const bl_config_t *config, const char *const *overrides, char *errstr,
                                   size_t errstr_size) {
        rd_kafka_conf_t *conf = bl_config_kafka_conf_new(config, errstr, errstr_size);
        if (!conf)
                return NULL;
        for (; overrides && overrides[0]; overrides += 2) {
                if (rd_kafka_conf_set(conf, overrides[0], overrides[1], errstr, errstr_size) != RD_KAFKA_CONF_OK) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        }
        rd_kafka_conf_set_log_cb(conf, bl_kafka_log);
        rd_kafka_conf_set_error_cb(conf, error_bridge);
        if (verifies_certificates(conf))
                rd_kafka_conf_set_ssl_cert_verify_cb(conf, verify_certificate);
        return conf;
}

rd_kafka_t *bl_kafka_new_from_conf(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size) {
        rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf over only on success */
        return rk;
}

rd_kafka_t *bl_kafka_new(rd_kafka_type_t type, const bl_config_t *config, const char *const *overrides,
                         char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = bl_kafka_conf_new(config, overrides, errstr, errstr_size);
        return conf ? bl_kafka_new_from_conf(type, conf, errstr, errstr_size) : NULL;
}

void bl_kafka_library_describe(char *out, size_t out_size) {
        char features[512] = "";
        size_t features_size = sizeof(features);
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_get(conf, "builtin.features", features, &features_size) != RD_KAFKA_CONF_OK)
                snprintf(features, sizeof(features), "unknown");
        rd_kafka_conf_destroy(conf);
        snprintf(out, out_size, "%s (features: %s)", rd_kafka_version_str(), features);
}

const char *bl_kafka_bootstrap(const bl_config_t *config) {
        const char *servers = json_string_value(json_object_get(config->kafka, "bootstrap.servers"));
        return servers ? servers : "(no bootstrap.servers)";
}
