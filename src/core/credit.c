/*
 * credit.c: own dispatch offsets against the workers' committed offsets.
 *
 * Per domain and partition, the offsets of the dispatch records this
 * instance wrote are kept in arrival order (offsets only grow within a
 * partition), split in two: those of committed transactions, and those of
 * the open one, which an abort drops. When the worker group commits offset
 * c, every own offset below c is done and leaves the front. What remains is
 * the outstanding work; its count against this instance's share of max_lag,
 * with resume_lag below it for hysteresis, decides the domain's credit.
 * Pure C, single-threaded (the pipeline thread).
 */
#include "core/credit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct partition_ledger_s {
        int64_t *offsets;
        size_t head, count, capacity; /* live entries are offsets[head .. count) */
        size_t committed_count;       /* entries [head .. committed_count) belong to committed transactions */
        int64_t workers_committed;    /* -1: nothing committed yet */
} partition_ledger_t;

typedef struct domain_ledger_s {
        char *name;
        int64_t max_lag, resume_lag;
        int64_t in_flight; /* sent, no delivery report yet: counted, placed when the report comes */
        bool throttled;
        partition_ledger_t *partitions;
        int32_t partition_count;
} domain_ledger_t;

struct bl_credit_s {
        domain_ledger_t *domains;
        size_t domain_count;
};

bl_credit_t *bl_credit_new(void) {
        return calloc(1, sizeof(bl_credit_t));
}

void bl_credit_destroy(bl_credit_t *credit) {
        if (!credit)
                return;
        for (size_t d = 0; d < credit->domain_count; d++) {
                for (int32_t p = 0; p < credit->domains[d].partition_count; p++)
                        free(credit->domains[d].partitions[p].offsets);
                free(credit->domains[d].partitions);
                free(credit->domains[d].name);
        }
        free(credit->domains);
        free(credit);
}

static domain_ledger_t *find_domain(const bl_credit_t *credit, const char *domain) {
        for (size_t d = 0; d < credit->domain_count; d++)
                if (!strcmp(credit->domains[d].name, domain))
                        return &credit->domains[d];
        return NULL;
}

bool bl_credit_set_domain(bl_credit_t *credit, const char *domain, int32_t partition_count, int64_t max_lag,
                          int64_t resume_lag) {
        domain_ledger_t *ledger = find_domain(credit, domain);
        if (!ledger) {
                domain_ledger_t *grown = realloc(credit->domains, (credit->domain_count + 1) * sizeof(*grown));
                if (!grown)
                        return false;
                credit->domains = grown;
                ledger = &credit->domains[credit->domain_count];
                memset(ledger, 0, sizeof(*ledger));
                ledger->name = strdup(domain);
                ledger->partitions = calloc((size_t)partition_count, sizeof(*ledger->partitions));
                if (!ledger->name || !ledger->partitions) {
                        free(ledger->name);
                        free(ledger->partitions);
                        return false;
                }
                for (int32_t p = 0; p < partition_count; p++)
                        ledger->partitions[p].workers_committed = -1;
                ledger->partition_count = partition_count;
                credit->domain_count++;
        }
        ledger->max_lag = max_lag;
        ledger->resume_lag = resume_lag;
        return true;
}

static partition_ledger_t *find_partition(const bl_credit_t *credit, const char *domain, int32_t partition) {
        domain_ledger_t *ledger = find_domain(credit, domain);
        if (!ledger || partition < 0 || partition >= ledger->partition_count)
                return NULL;
        return &ledger->partitions[partition];
}

/* Moves the live entries to the front when the dead ones before them are the bulk. */
static void compact(partition_ledger_t *ledger) {
        if (ledger->head == 0 || ledger->head < ledger->count / 2)
                return;
        memmove(ledger->offsets, ledger->offsets + ledger->head, (ledger->count - ledger->head) * sizeof(int64_t));
        ledger->count -= ledger->head;
        ledger->committed_count -= ledger->head;
        ledger->head = 0;
}

void bl_credit_sent(bl_credit_t *credit, const char *domain) {
        domain_ledger_t *ledger = find_domain(credit, domain);
        if (ledger)
                ledger->in_flight++;
}

void bl_credit_record(bl_credit_t *credit, const char *domain, int32_t partition, int64_t offset) {
        domain_ledger_t *domain_ledger = find_domain(credit, domain);
        partition_ledger_t *ledger = find_partition(credit, domain, partition);
        if (domain_ledger && domain_ledger->in_flight > 0)
                domain_ledger->in_flight--;
        if (!ledger)
                return;
        compact(ledger);
        if (ledger->count == ledger->capacity) {
                size_t capacity = ledger->capacity ? ledger->capacity * 2 : 64;
                int64_t *grown = realloc(ledger->offsets, capacity * sizeof(*grown));
                if (!grown)
                        return; /* not counted: at worst a little more is dispatched */
                ledger->offsets = grown;
                ledger->capacity = capacity;
        }
        ledger->offsets[ledger->count++] = offset;
}

static void each_partition(bl_credit_t *credit, void (*fn)(partition_ledger_t *ledger)) {
        for (size_t d = 0; d < credit->domain_count; d++)
                for (int32_t p = 0; p < credit->domains[d].partition_count; p++)
                        fn(&credit->domains[d].partitions[p]);
}

static void keep_open(partition_ledger_t *ledger) {
        ledger->committed_count = ledger->count;
}

static void drop_open(partition_ledger_t *ledger) {
        ledger->count = ledger->committed_count;
}

void bl_credit_transaction_committed(bl_credit_t *credit) {
        each_partition(credit, keep_open);
}

void bl_credit_transaction_aborted(bl_credit_t *credit) {
        each_partition(credit, drop_open);
        for (size_t d = 0; d < credit->domain_count; d++)
                credit->domains[d].in_flight = 0;
}

void bl_credit_committed(bl_credit_t *credit, const char *domain, int32_t partition, int64_t offset) {
        partition_ledger_t *ledger = find_partition(credit, domain, partition);
        if (!ledger)
                return;
        ledger->workers_committed = offset;
        while (ledger->head < ledger->committed_count && ledger->offsets[ledger->head] < offset)
                ledger->head++;
}

static int64_t outstanding_of(const domain_ledger_t *ledger) {
        int64_t outstanding = ledger->in_flight;
        for (int32_t p = 0; p < ledger->partition_count; p++)
                outstanding += (int64_t)(ledger->partitions[p].count - ledger->partitions[p].head);
        return outstanding;
}

int64_t bl_credit_outstanding(const bl_credit_t *credit, const char *domain) {
        const domain_ledger_t *ledger = find_domain(credit, domain);
        return ledger ? outstanding_of(ledger) : 0;
}

size_t bl_credit_available(bl_credit_t *credit, const char *domain, double share, bool *changed) {
        domain_ledger_t *ledger = find_domain(credit, domain);
        if (changed)
                *changed = false;
        if (!ledger)
                return SIZE_MAX;
        int64_t outstanding = outstanding_of(ledger);
        int64_t limit = (int64_t)ceil((double)ledger->max_lag * share);
        int64_t resume = (int64_t)floor((double)ledger->resume_lag * share);
        if (limit < 1)
                limit = 1;
        if (resume < 1)
                resume = 1; /* a small share still opens again once its own work is done */
        bool was = ledger->throttled;
        if (!ledger->throttled && outstanding >= limit)
                ledger->throttled = true;
        else if (ledger->throttled && outstanding < resume)
                ledger->throttled = false;
        if (changed)
                *changed = was != ledger->throttled;
        return ledger->throttled || outstanding >= limit ? 0 : (size_t)(limit - outstanding);
}

bool bl_credit_peek(const bl_credit_t *credit, const char *domain, double share, int64_t *limit, int64_t *room) {
        const domain_ledger_t *ledger = find_domain(credit, domain);
        if (!ledger)
                return false;
        int64_t outstanding = outstanding_of(ledger);
        int64_t own_limit = (int64_t)ceil((double)ledger->max_lag * share);
        if (own_limit < 1)
                own_limit = 1;
        *limit = own_limit;
        *room = ledger->throttled || outstanding >= own_limit ? 0 : own_limit - outstanding;
        return true;
}

bool bl_credit_throttled(const bl_credit_t *credit, const char *domain) {
        const domain_ledger_t *ledger = find_domain(credit, domain);
        return ledger && ledger->throttled;
}

void bl_credit_foreach(const bl_credit_t *credit,
                       void (*fn)(const char *domain, int64_t outstanding, bool throttled, void *opaque), void *opaque) {
        for (size_t d = 0; d < credit->domain_count; d++)
                fn(credit->domains[d].name, outstanding_of(&credit->domains[d]), credit->domains[d].throttled, opaque);
}
