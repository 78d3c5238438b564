/*
 * Test harness only, never shipped: bcryptprimitives.dll for Wine 8, which
 * lacks it. Go >= 1.22's Windows runtime takes its random bytes from
 * bcryptprimitives.dll!ProcessPrng (Windows 10 and later) and dies with
 * "fatal error: bcryptprimitives.dll not found" without it. This DLL
 * forwards to RtlGenRandom (advapi32!SystemFunction036), which Wine has.
 * The Wine stage (cmd/invigil/wine_test.go) builds it with mingw-w64 and
 * copies it into its temporary prefix's system32.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
