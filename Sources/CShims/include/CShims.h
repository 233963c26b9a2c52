#ifndef CASHIER_CSHIMS_H
#define CASHIER_CSHIMS_H
/// Typed wrappers for variadic C functions and macros that Swift cannot call directly.
/// Each library's wrappers live in their own header and source file.
#include "cshims_curl.h"
#include "cshims_curses.h"
#include "cshims_http.h"
#include "cshims_tls.h"
#endif
