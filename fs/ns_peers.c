/*
 * peers/ID: remote peers (DESIGN §4).
 *
 * Content is key=value pairs, one per line (whitespace between pairs is
 * accepted on input). address=HOST:PORT is required (IPv4, [IPv6] or a host
 * name); type is lan or cloud; enabled is a boolean (default true), stored
 * as true/false; any other key is kept verbatim (oauth2.client_id=…).
 * Stored normalized: one pair per line, in the order given. Files are
 * created 0600: peers carry credentials.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../replication/transport.h"
#include "ns.h"

#define PEER_KEY_MAX 128
#define PEER_MAX_PAIRS 256

int ns_peers_check_name(const char *name, size_t len)
{
	if (len == 0 || len > 255 || name[0] == '.' || name[0] == '-')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return -EINVAL;
	}
	return 0;
}

static bool host_ok(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t len = strlen(host);
	bool digits_and_dots = true;

	if (inet_pton(AF_INET6, host, &a6) == 1)
		return true;
	for (size_t i = 0; i < len; i++)
		if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
			digits_and_dots = false;
	if (digits_and_dots)
		return inet_pton(AF_INET, host, &a4) == 1;
	/* A host name: letters, digits, '-' and '.', labels not starting with '-'. */
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
		if (c == '-' && (i == 0 || host[i - 1] == '.'))
			return false;
		if (c == '.' && (i == 0 || host[i - 1] == '.'))
			return false;
	}
	return true;
}

int ns_peers_check_address(const char *value, size_t len)
{
	char addr[TRANSPORT_ADDRESS_MAX + 1], host[TRANSPORT_ADDRESS_MAX + 1], port[8];

	if (len == 0 || len > TRANSPORT_ADDRESS_MAX)
		return -EINVAL;
	memcpy(addr, value, len);
	addr[len] = '\0';
	/* An IPv6 address must be in brackets, so that the port is clear. */
	if (addr[0] != '[' && strchr(addr, ':') != strrchr(addr, ':'))
		return -EINVAL;
	if (transport_split_address(addr, host, sizeof(host), port, sizeof(port)) != 0)
		return -EINVAL;
	if (addr[0] == '[') {
		struct in6_addr a6;

		return inet_pton(AF_INET6, host, &a6) == 1 ? 0 : -EINVAL;
	}
	return host_ok(host) ? 0 : -EINVAL;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ns_peers_normalize(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	char keys[PEER_MAX_PAIRS][PEER_KEY_MAX + 1];
	size_t used = 0, i = 0;
	int n = 0;
	bool have_address = false;

	while (i < len) {
		size_t ks, ke, vs, ve;

		while (i < len && is_space((unsigned char)in[i]))
			i++;
		if (i == len)
			break;
		ks = i;
		while (i < len && in[i] != '=' && !is_space((unsigned char)in[i]))
			i++;
		ke = i;
		if (i == len || in[i] != '=' || ke == ks || ke - ks > PEER_KEY_MAX)
			return -EINVAL; /* a word that is not key=value */
		vs = ++i;
		while (i < len && !is_space((unsigned char)in[i]))
			i++;
		ve = i;
		for (size_t k = ks; k < ke; k++) {
			char c = in[k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
				return -EINVAL;
		}
		for (size_t k = vs; k < ve; k++)
			if ((unsigned char)in[k] < 0x20 || in[k] == 0x7f)
				return -EINVAL; /* NUL and control bytes */
		if (n == PEER_MAX_PAIRS)
			return -EINVAL;
		memcpy(keys[n], in + ks, ke - ks);
		keys[n][ke - ks] = '\0';
		for (int k = 0; k < n; k++)
			if (strcmp(keys[k], keys[n]) == 0)
				return -EINVAL; /* a key twice */

		const char *val = in + vs;
		size_t vlen = ve - vs;
		bool b;

		if (strcmp(keys[n], "address") == 0) {
			if (ns_peers_check_address(val, vlen) != 0)
				return -EINVAL;
			have_address = true;
		} else if (strcmp(keys[n], "type") == 0) {
			if (!((vlen == 3 && memcmp(val, "lan", 3) == 0) ||
			      (vlen == 5 && memcmp(val, "cloud", 5) == 0)))
				return -EINVAL;
		} else if (strcmp(keys[n], "enabled") == 0) {
			if (ns_gates_parse(val, vlen, &b) != 0 || vlen == 0)
				return -EINVAL;
			val = b ? "true" : "false";
			vlen = strlen(val);
		}
		if (used + (ke - ks) + 1 + vlen + 1 > cap)
			return -EINVAL; /* too big to be a peer */
		memcpy(out + used, in + ks, ke - ks);
		used += ke - ks;
		out[used++] = '=';
		memcpy(out + used, val, vlen);
		used += vlen;
		out[used++] = '\n';
		n++;
	}
	if (!have_address)
		return -EINVAL;
	*out_len = used;
	return 0;
}
