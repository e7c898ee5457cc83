/*
 * version.c: `backlogd --version`: backlogd's own version, then the libraries
 * it runs on, one per line, so that a bug report or an operator can tell
 * which librdkafka (SCRAM against Kafka 4 needs >= 2.6.1) and which TLS
 * library are in play without guessing from a package list.
 *
 * librdkafka, jansson, libcurl and libmicrohttpd answer at run time (the
 * library that is loaded, or linked in for librdkafka); avro-c has no version
 * call, so its line is the version pkg-config gave when this binary was built.
 * Each library is asked through the layer that owns it.
 */
#include <jansson.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "contract/registry.h"
#include "kafka/client.h"
#include "ops/http.h"

#ifndef BL_VERSION
#define BL_VERSION "0.0.0"
#endif
#ifndef BL_AVRO_VERSION
#define BL_AVRO_VERSION "unknown"
#endif

void bl_cmd_print_version(FILE *out) {
        char rdkafka[640], curl[160];
        bl_kafka_library_describe(rdkafka, sizeof(rdkafka));
        bl_registry_library_describe(curl, sizeof(curl));
        fprintf(out,
                "backlogd %s\n"
                "librdkafka %s\n"
                "avro-c %s (built against)\n"
                "jansson %s\n"
                "libcurl %s\n"
                "libmicrohttpd %s\n",
                BL_VERSION, rdkafka, BL_AVRO_VERSION, jansson_version_str(), curl, bl_http_library_version());
}
