/*
 * status.c: the status board, the one place the pipeline thread and the
 * HTTP thread share the status page's data.
 *
 * The board holds the last snapshot published and the ring of samples
 * behind the plots, both under one mutex. publish() (pipeline thread, about
 * once a second) copies the snapshot in and pushes one sample: for each
 * domain its READY count, in-flight count, dispatch rate and lag, at
 * d * BL_STATUS_PLOT__COUNT + plot. render() (HTTP thread, per request)
 * copies both under the mutex and draws the page after letting go of it, so
 * the pipeline never waits for a render, only for a copy (about 0.1 ms for a
 * few domains and a full ring, 2 MB at most with 64 domains).
 *
 * The ring is made for the domains of the first snapshot (4 series each,
 * 900 samples: about 30 KB per domain); a snapshot with other domains
 * (names or count) starts a new one, so a line never changes its domain.
 * Until the first publish the page says the pipeline is starting.
 */
#include "ops/status.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "ops/status_page.h"
#include "ops/status_ring.h"

struct bl_status_board_s {
        pthread_mutex_t lock;
        bool published;
        bl_status_snapshot_t snapshot;
        bl_status_ring_t *ring; /* domain_count * BL_STATUS_PLOT__COUNT series; NULL before the first publish */
};

void bl_status_copy_text(char *out, size_t size, const char *text) {
        if (!size)
                return;
        size_t length = text ? strlen(text) : 0;
        if (length > size - 1)
                length = bl_text_utf8_prefix(text, length, size - 1);
        if (length)
                memcpy(out, text, length);
        out[length] = '\0';
}

void bl_status_note_approval(bl_status_snapshot_t *snapshot, const char *task_id, const char *domain,
                             int64_t waiting_ms) {
        snapshot->approvals_waiting++;
        size_t at = snapshot->approval_count;
        while (at > 0 && snapshot->approvals[at - 1].waiting_ms < waiting_ms)
                at--;
        if (at >= BL_STATUS_APPROVALS_MAX)
                return; /* waits no longer than any listed */
        size_t last = snapshot->approval_count < BL_STATUS_APPROVALS_MAX ? snapshot->approval_count
                                                                          : BL_STATUS_APPROVALS_MAX - 1;
        memmove(&snapshot->approvals[at + 1], &snapshot->approvals[at], (last - at) * sizeof(snapshot->approvals[0]));
        bl_status_waiting_t *entry = &snapshot->approvals[at];
        bl_status_copy_text(entry->task_id, sizeof(entry->task_id), task_id);
        bl_status_copy_text(entry->domain, sizeof(entry->domain), domain ? domain : "");
        entry->waiting_ms = waiting_ms;
        if (snapshot->approval_count < BL_STATUS_APPROVALS_MAX)
                snapshot->approval_count++;
}

bl_status_board_t *bl_status_board_new(void) {
        bl_status_board_t *board = calloc(1, sizeof(*board));
        if (!board)
                return NULL;
        if (pthread_mutex_init(&board->lock, NULL) != 0) {
                free(board);
                return NULL;
        }
        return board;
}

void bl_status_board_destroy(bl_status_board_t *board) {
        if (!board)
                return;
        bl_status_ring_destroy(board->ring);
        pthread_mutex_destroy(&board->lock);
        free(board);
}

static bool same_domains(const bl_status_snapshot_t *a, const bl_status_snapshot_t *b) {
        if (a->domain_count != b->domain_count)
                return false;
        for (size_t d = 0; d < a->domain_count; d++)
                if (strcmp(a->domains[d].name, b->domains[d].name))
                        return false;
        return true;
}

void bl_status_board_publish(bl_status_board_t *board, const bl_status_snapshot_t *snapshot) {
        double values[BL_STATUS_DOMAINS_MAX * BL_STATUS_PLOT__COUNT] = {0};
        size_t domains = snapshot->domain_count < BL_STATUS_DOMAINS_MAX ? snapshot->domain_count
                                                                        : BL_STATUS_DOMAINS_MAX;
        for (size_t d = 0; d < domains; d++) {
                const bl_status_domain_t *domain = &snapshot->domains[d];
                double *sample = values + d * BL_STATUS_PLOT__COUNT;
                sample[BL_STATUS_PLOT_READY] = (double)domain->ready;
                sample[BL_STATUS_PLOT_IN_FLIGHT] = (double)domain->in_flight;
                sample[BL_STATUS_PLOT_DISPATCH_RATE] = domain->dispatch_rate;
                sample[BL_STATUS_PLOT_LAG] = (double)domain->lag;
        }
        pthread_mutex_lock(&board->lock);
        if (!board->ring || !same_domains(&board->snapshot, snapshot)) { /* out of memory: no plots */
                bl_status_ring_destroy(board->ring);
                board->ring = bl_status_ring_new((domains ? domains : 1) * BL_STATUS_PLOT__COUNT,
                                                 BL_STATUS_WINDOW_MS / BL_STATUS_SAMPLE_MS);
        }
        memcpy(&board->snapshot, snapshot, sizeof(*snapshot));
        board->snapshot.domain_count = domains;
        board->published = true;
        if (board->ring)
                bl_status_ring_push(board->ring, snapshot->taken_at_ms, values);
        pthread_mutex_unlock(&board->lock);
}

static char *copy_of(const char *text, size_t *length) {
        char *copy = strdup(text);
        if (copy)
                *length = strlen(copy);
        return copy;
}

char *bl_status_board_render(bl_status_board_t *board, int refresh_s, size_t *length) {
        bl_status_snapshot_t *snapshot = malloc(sizeof(*snapshot));
        bl_status_ring_t *ring = NULL;
        bool published, copied = true;
        if (!snapshot)
                return NULL;
        /* copies under the lock (well under a millisecond), draws without it: the pipeline never waits a render */
        pthread_mutex_lock(&board->lock);
        published = board->published;
        if (published) {
                memcpy(snapshot, &board->snapshot, sizeof(*snapshot));
                if (board->ring && !(ring = bl_status_ring_clone(board->ring)))
                        copied = false;
        }
        pthread_mutex_unlock(&board->lock);
        char *page = NULL;
        if (!published)
                page = copy_of("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<meta http-equiv=\"refresh\" content=\"2\"><title>backlogd</title></head>"
                               "<body><h1>backlogd</h1><p>Starting: the pipeline has not published its status "
                               "yet.</p></body></html>\n",
                               length);
        else if (copied)
                page = bl_status_page_render(snapshot, ring, refresh_s, length);
        bl_status_ring_destroy(ring);
        free(snapshot);
        return page;
}
