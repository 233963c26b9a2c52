#ifndef CASHIER_CSHIMS_TLS_H
#define CASHIER_CSHIMS_TLS_H
/// Certificate generation with OpenSSL's libcrypto: ECDSA P-256 keys, SHA-256 signatures, PEM in and out.
/// Functions return 1 on success, 0 on failure with a reason in `error`; PEM outputs are malloc'd
/// NUL-terminated strings the caller releases with cashier_tls_free.
#include <stddef.h>
#include <stdint.h>

/// A self-signed certificate authority (basicConstraints CA:TRUE, keyUsage keyCertSign + cRLSign).
int cashier_tls_make_authority(const char *common_name, int valid_days, char **certificate_pem,
                               char **private_key_pem, char *error, size_t error_capacity);

/// A server certificate signed by the authority, with subjectAltName DNS and IP entries and
/// extendedKeyUsage serverAuth.
int cashier_tls_issue_server(const char *authority_certificate_pem, const char *authority_private_key_pem,
                             const char *common_name, const char *const *dns_names, size_t dns_count,
                             const char *const *ip_addresses, size_t ip_count, int valid_days,
                             char **certificate_pem, char **private_key_pem, char *error, size_t error_capacity);

/// The SHA-256 digest (32 bytes into `digest`) of the certificate's DER SubjectPublicKeyInfo.
int cashier_tls_public_key_sha256(const char *certificate_pem, uint8_t digest[32], char *error,
                                  size_t error_capacity);

/// Releases a string returned by the functions above.
void cashier_tls_free(char *pem);
#endif
