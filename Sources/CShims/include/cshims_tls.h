#ifndef CASHIER_CSHIMS_TLS_H
#define CASHIER_CSHIMS_TLS_H
/// Placeholder: certificate generation is added with `cashierd init`.
#endif
