#ifndef CASHIER_CSHIMS_HTTP_H
#define CASHIER_CSHIMS_HTTP_H
/// Placeholder: the libmicrohttpd server wrapper is added with the HTTPServer module.
#endif
