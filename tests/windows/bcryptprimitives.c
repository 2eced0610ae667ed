/* ProcessPrng for Wine 8 (Debian 12), which lacks bcryptprimitives.dll: Rust's standard library on
 * Windows takes its random numbers from there. The Windows tests put this in the test prefix's system32;
 * Windows itself and Wine 9 and later have their own. It answers from RtlGenRandom. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
