/*
 * test_client.c: the one librdkafka log line backlogd reads for its meaning (src/kafka/client.c): the
 * partition a transaction's AddPartitionsToTxn was refused, which no error code names.
 */
#include "check.h"
#include "kafka/client.h"

static void test_refused_partition(void) {
        char topic[64];
        const char *cause = NULL;
        CHECK(bl_kafka_refused_partition(
                "ADDPARTS", "Failed to add partition \"backlog.dlq\" [3] to transaction: Broker: Topic authorization "
                            "failed",
                topic, sizeof(topic), &cause));
        CHECK_STR(topic, "backlog.dlq");
        CHECK_STR(cause, "Broker: Topic authorization failed");
        /* a topic name is cut to the buffer, never overflows */
        char small[8];
        CHECK(bl_kafka_refused_partition("ADDPARTS", "Failed to add partition \"dispatch.evaluation\" [0] to "
                                                     "transaction: x",
                                         small, sizeof(small), &cause));
        CHECK_STR(small, "dispatc");
}

static void test_other_lines_are_not_refusals(void) {
        char topic[64];
        const char *cause = NULL;
        CHECK(!bl_kafka_refused_partition("ADDPARTS", "AddPartitionsToTxn response: partition \"t\": [0]: x", topic,
                                          sizeof(topic), &cause));
        CHECK(!bl_kafka_refused_partition("TXNERR", "Failed to add partition \"t\" [0] to transaction: x", topic,
                                          sizeof(topic), &cause));
        CHECK(!bl_kafka_refused_partition("ADDPARTS", "Failed to add partition \"unterminated", topic, sizeof(topic),
                                          &cause));
}

int main(void) {
        RUN(test_refused_partition);
        RUN(test_other_lines_are_not_refusals);
        return check_exit_status();
}
