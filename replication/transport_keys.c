/*
 * The cluster key as a file (64 hex characters and a newline, mode 0600)
 * and the HOST:PORT syntax of node addresses; see transport.h. Pure
 * functions, any thread.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void transport_key_hex(const uint8_t key[TRANSPORT_KEY_SIZE], char out[2 * TRANSPORT_KEY_SIZE + 1])
{
	sodium_bin2hex(out, 2 * TRANSPORT_KEY_SIZE + 1, key, TRANSPORT_KEY_SIZE);
}

int transport_key_from_hex(const char *hex, size_t len, uint8_t key[TRANSPORT_KEY_SIZE])
{
	size_t bin_len = 0;

	if (len != 2 * TRANSPORT_KEY_SIZE)
		return -EINVAL;
	if (sodium_hex2bin(key, TRANSPORT_KEY_SIZE, hex, len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != TRANSPORT_KEY_SIZE)
		return -EINVAL;
	return 0;
}

int transport_key_load(const char *path, uint8_t key[TRANSPORT_KEY_SIZE], char *err, size_t errlen)
{
	char text[2 * TRANSPORT_KEY_SIZE + 8];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot read cluster key %s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read cluster key %s: %s", path, strerror(errno));
		return -EIO;
	}
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (transport_key_from_hex(text, (size_t)n, key) != 0) {
		snprintf(err, errlen, "cluster key %s is not 64 hex characters", path);
		return -EINVAL;
	}
	return 0;
}

int transport_key_generate(const char *path, uint8_t key[TRANSPORT_KEY_SIZE])
{
	char hex[2 * TRANSPORT_KEY_SIZE + 2];
	int fd, rv = 0;

	randombytes_buf(key, TRANSPORT_KEY_SIZE);
	transport_key_hex(key, hex);
	strcat(hex, "\n");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) != 0)
		rv = -EIO;
	close(fd);
	return rv;
}

int transport_split_address(const char *address, char *host, size_t hostlen, char *port,
			    size_t portlen)
{
	const char *colon, *h = address;
	size_t hl;

	if (address[0] == '[') {
		const char *end = strchr(address, ']');

		if (end == NULL || end[1] != ':')
			return -EINVAL;
		h = address + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL || strchr(address, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - address);
	}
	if (hl == 0 || hl >= hostlen || strlen(colon + 1) == 0 || strlen(colon + 1) >= portlen)
		return -EINVAL;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	if (atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}
