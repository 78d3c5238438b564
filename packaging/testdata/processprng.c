/*
 * Test only, never shipped: bcryptprimitives.dll for Wine 8, which lacks it.
 * Go's Windows runtime takes random bytes from ProcessPrng and dies without
 * it; the MSI's custom actions run invigil.exe, so scripts/test-packaging.sh
 * builds this with mingw-w64 into its throw-away Wine prefix.
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
