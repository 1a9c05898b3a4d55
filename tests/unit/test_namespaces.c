/*
 * The parsers of the typed namespaces other than gates/ (test_gates.c):
 * peers/ (names, addresses, key=value pairs) and config/.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/ns.h"
#include "helpers.h"

static void fini(void)
{
	h_leak_check();
}

TestSuite(ns, .fini = fini);

static int addr(const char *a)
{
	return ns_peers_check_address(a, strlen(a));
}

Test(ns, peer_addresses)
{
	static const char *const good[] = {"10.0.0.1:7440", "[::1]:80", "[fe80::1%eth0]:1",
					   "[2001:db8::7]:65535", "node-a.lan:443", "localhost:1",
					   "a:1", "xn--bcher-kva.example:8080"};
	static const char *const bad[] = {"10.0.0.1", "10.0.0.1:", ":80", "10.0.0.256:80",
					  "1.2.3:80", "::1:80", "[::1]", "[::1]:0", "[zz::1]:80",
					  "host:65536", "host:8o", "-host:80", "host..lan:80",
					  "ho st:80", "host_name:80", "", "[]:80"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (strchr(good[i], '%') == NULL)
			cr_assert_eq(addr(good[i]), 0, "%s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(addr(bad[i]), -EINVAL, "%s accepted", bad[i]);
}

static void peer(const char *in, int expect_rv, const char *expect)
{
	char out[65536];
	size_t len = 0;
	int rv = ns_peers_normalize(in, strlen(in), out, sizeof(out), &len);

	cr_assert_eq(rv, expect_rv, "normalize(\"%s\") = %d", in, rv);
	if (expect != NULL) {
		out[len] = '\0';
		cr_assert_str_eq(out, expect);
	}
}

Test(ns, peer_content)
{
	peer("address=10.0.0.1:7440\n", 0, "address=10.0.0.1:7440\n");
	peer("address=10.0.0.1:7440 type=cloud enabled=no", 0,
	     "address=10.0.0.1:7440\ntype=cloud\nenabled=false\n");
	peer("  \t\naddress=[::1]:80\r\n\n  oauth2.client_id=abc-123  ", 0,
	     "address=[::1]:80\noauth2.client_id=abc-123\n");
	peer("type=lan address=h:1 enabled=ON note=", 0, "type=lan\naddress=h:1\nenabled=true\nnote=\n");
	peer("x=\xc3\xa9t\xc3\xa9 address=h:1", 0, "x=\xc3\xa9t\xc3\xa9\naddress=h:1\n");
	peer("", -EINVAL, NULL);			/* address is required */
	peer("type=lan", -EINVAL, NULL);
	peer("address=h", -EINVAL, NULL);
	peer("address=h:1 type=wan", -EINVAL, NULL);
	peer("address=h:1 enabled=maybe", -EINVAL, NULL);
	peer("address=h:1 enabled=", -EINVAL, NULL);
	peer("address=h:1 address=h:2", -EINVAL, NULL); /* a key twice */
	peer("address=h:1 justaword", -EINVAL, NULL);
	peer("address=h:1 =value", -EINVAL, NULL);
	peer("address=h:1 k\x01=v", -EINVAL, NULL);
	peer("address=h:1 k=v\x7f", -EINVAL, NULL);
}

Test(ns, peer_content_with_nul_and_oversized)
{
	static const char nul[] = "address=h:1 k=a\0b";
	char big[70000], out[65536];
	size_t len;

	cr_assert_eq(ns_peers_normalize(nul, sizeof(nul) - 1, out, sizeof(out), &len), -EINVAL);
	memset(big, 'v', sizeof(big));
	memcpy(big, "address=h:1 k=", 14);
	cr_assert_eq(ns_peers_normalize(big, sizeof(big), out, sizeof(out), &len), -EINVAL,
		     "a value larger than the store's scratch space");
}

Test(ns, peer_names)
{
	cr_assert_eq(ns_check_name(STORE_PEERS_INO, "cloud-1", 7, S_IFREG | 0644), 0);
	cr_assert_eq(ns_check_name(STORE_PEERS_INO, "Site_B.eu", 9, S_IFREG | 0644), 0);
	cr_assert_eq(ns_check_name(STORE_PEERS_INO, ".hidden", 7, S_IFREG | 0644), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_PEERS_INO, "a b", 3, S_IFREG | 0644), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_PEERS_INO, "d", 1, S_IFDIR | 0755), -EINVAL);
	cr_assert_eq(ns_validator()->create_mode(STORE_PEERS_INO, 0666), 0600u);
	cr_assert_eq(ns_validator()->create_mode(STORE_ROUTING_INO, 0644), 0644u);
}

static void config(const char *name, const char *in, int expect_rv, const char *expect)
{
	const void *data = in;
	size_t len = strlen(in);
	char scratch[64];
	int rv = h_check_content(STORE_CONFIG_INO, name, &data, &len, scratch, sizeof(scratch));

	cr_assert_eq(rv, expect_rv, "config %s = \"%s\": %d", name, in, rv);
	if (expect != NULL) {
		cr_assert_eq(len, strlen(expect));
		cr_assert_eq(memcmp(data, expect, len), 0);
	}
}

Test(ns, config_values)
{
	config("deployment.type", "local", 0, "local\n");
	config("deployment.type", " maas\n", 0, "maas\n");
	config("deployment.type", "MAAS", -EINVAL, NULL);
	config("deployment.type", "", -EINVAL, NULL);
	config("deployment.type", "cloud\n", -EINVAL, NULL);
	config("anything.else", "free form\x01 text", 0, "free form\x01 text");
	config("anything.else", "", 0, "");
}
