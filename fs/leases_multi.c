/*
 * Taking several leases at once, all or nothing: the value of the
 * user.clusterfs.acquire xattr on leases/ parsed into one ENTRY_MULTI.
 * Loop thread only.
 */
#include "fs_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* setxattr(leases/, FS_XATTR_ACQUIRE, "holder=H ttl=S names=A,B,C"): one
 * ENTRY_MULTI, so that either every lease is taken (or renewed) or none is
 * (DESIGN §4 multi-lease; `clusterfsctl lease acquire A B C`). Missing
 * leases get consecutive new inode numbers. */
void fs_lease_acquire_many(struct fs *fs, fuse_req_t req, const char *value, size_t size)
{
	char content[512], names[ENTRY_MULTI_MAX * (FS_NAME_MAX + 1)];
	size_t clen = 0, nlen = 0, count = 0, i = 0;
	struct fs_op *op;
	struct entry e;

	if (memchr(value, '\0', size) != NULL)
		goto bad; /* NUL separates names in the entry */
	while (i < size) {
		size_t start;

		while (i < size && isspace((unsigned char)value[i]))
			i++;
		start = i;
		while (i < size && !isspace((unsigned char)value[i]))
			i++;
		if (i == start)
			break;
		if (i - start > 6 && memcmp(value + start, "names=", 6) == 0) {
			for (size_t j = start + 6; j < i; j++) {
				if (value[j] == ',' || value[j] == '\0')
					goto bad;
				names[nlen++] = value[j];
				if (j + 1 == i || value[j + 1] == ',') {
					names[nlen++] = '\0';
					if (++count > ENTRY_MULTI_MAX)
						goto bad;
					if (j + 1 < i)
						j++; /* the comma */
				}
				if (nlen + 2 > sizeof(names))
					goto bad;
			}
		} else {
			if (clen + (i - start) + 2 > sizeof(content))
				goto bad;
			memcpy(content + clen, value + start, i - start);
			clen += i - start;
			content[clen++] = ' ';
		}
	}
	if (count == 0 || clen == 0)
		goto bad;
	content[clen - 1] = '\0'; /* the NUL that ends the content */
	{
		char *data = malloc(clen + nlen);

		if (data == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(data, content, clen);
		memcpy(data + clen, names, nlen);
		op = fs_op_new(fs, req, REPLY_ERR0);
		if (op == NULL) {
			free(data);
			return;
		}
		fs_entry_init(fs, req, &e, ENTRY_MULTI);
		e.parent = STORE_LEASES_INO;
		e.ino = fs_new_ino(fs);
		fs->ino_counter += (uint32_t)count - 1;
		e.mode = S_IFREG | 0644;
		e.data = data;
		e.data_len = (uint32_t)(clen + nlen);
		fs_submit(op, &e);
		free(data);
	}
	return;
bad:
	fuse_reply_err(req, EINVAL);
}
