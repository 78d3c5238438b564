/*
 * Test-only stand-in for bcryptprimitives.dll, which Wine 8 lacks: Go's
 * runtime (1.22 and later) imports bcryptprimitives.dll!ProcessPrng and
 * dies without it. Built by run.sh into the test's own Wine prefix; never
 * shipped.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	return RtlGenRandom(data, (ULONG)len);
}
