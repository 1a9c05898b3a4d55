/*
 * clusterfsd's .cluster/metrics renderer (metrics.c). Loop thread.
 */
#ifndef CFS_TOOLS_METRICS_H
#define CFS_TOOLS_METRICS_H

#include <stddef.h>

#include "../fs/frontend.h"
#include "../replication/node.h"

/* Render into @buf; the length, or -ENOSPC if it did not fit. */
int metrics_render(struct node *node, struct fs *fs, char *buf, size_t cap);

#endif
