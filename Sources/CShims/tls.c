#include "cshims_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/// Writes `what` and OpenSSL's most recent error into `error`, then clears OpenSSL's error queue.
static int fail(const char *what, char *error, size_t capacity) {
    unsigned long code = ERR_peek_last_error();
    if (code) {
        char detail[200];
        ERR_error_string_n(code, detail, sizeof detail);
        snprintf(error, capacity, "%s: %s", what, detail);
    } else {
        snprintf(error, capacity, "%s", what);
    }
    ERR_clear_error();
    return 0;
}

/// Copies a memory BIO's contents into a malloc'd NUL-terminated string.
static char *bio_to_string(BIO *bio) {
    char *data = NULL;
    long length = BIO_get_mem_data(bio, &data);
    if (length < 0) return NULL;
    char *out = malloc((size_t)length + 1);
    if (!out) return NULL;
    memcpy(out, data, (size_t)length);
    out[length] = '\0';
    return out;
}

static char *certificate_to_pem(X509 *certificate) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    char *out = PEM_write_bio_X509(bio, certificate) == 1 ? bio_to_string(bio) : NULL;
    BIO_free(bio);
    return out;
}

/// PKCS#8 "PRIVATE KEY", unencrypted.
static char *private_key_to_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    char *out = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 ? bio_to_string(bio) : NULL;
    BIO_free(bio);
    return out;
}

static X509 *certificate_from_pem(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio) return NULL;
    X509 *certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return certificate;
}

static EVP_PKEY *private_key_from_pem(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

static EVP_PKEY *new_p256_key(void) { return EVP_EC_gen("P-256"); }

/// Version 3, a random positive 16-byte serial, subject CN, validity from one hour ago, and the public key.
static int set_basics(X509 *certificate, const char *common_name, int valid_days, EVP_PKEY *key) {
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return 0;
    serial[0] &= 0x7f;
    serial[0] |= 0x40; // positive and exactly 16 bytes long
    BIGNUM *number = BN_bin2bn(serial, sizeof serial, NULL);
    if (!number) return 0;
    int ok = BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != NULL;
    BN_free(number);
    if (!ok) return 0;
    if (X509_set_version(certificate, 2) != 1) return 0;
    if (!X509_gmtime_adj(X509_getm_notBefore(certificate), -3600)) return 0;
    if (!X509_time_adj_ex(X509_getm_notAfter(certificate), valid_days, 0, NULL)) return 0;
    X509_NAME *name = X509_get_subject_name(certificate);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) != 1)
        return 0;
    return X509_set_pubkey(certificate, key) == 1;
}

/// Adds one extension given in OpenSSL's configuration syntax (fixed strings only, never user input).
static int add_extension(X509 *certificate, X509 *issuer, int nid, const char *value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, nid, value);
    if (!extension) return 0;
    int ok = X509_add_ext(certificate, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return ok;
}

/// subjectAltName built entry by entry, so names cannot smuggle in extra entries.
static int add_subject_alt_names(X509 *certificate, const char *const *dns, size_t dns_count,
                                 const char *const *ips, size_t ip_count, char *error, size_t capacity) {
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    if (!names) return 0;
    int ok = 1;
    for (size_t i = 0; ok && i < dns_count; i++) {
        GENERAL_NAME *name = GENERAL_NAME_new();
        ASN1_IA5STRING *text = ASN1_IA5STRING_new();
        if (!name || !text || ASN1_STRING_set(text, dns[i], -1) != 1) {
            GENERAL_NAME_free(name);
            ASN1_IA5STRING_free(text);
            ok = 0;
            break;
        }
        GENERAL_NAME_set0_value(name, GEN_DNS, text);
        if (!sk_GENERAL_NAME_push(names, name)) { GENERAL_NAME_free(name); ok = 0; }
    }
    for (size_t i = 0; ok && i < ip_count; i++) {
        ASN1_OCTET_STRING *address = a2i_IPADDRESS(ips[i]);
        if (!address) {
            snprintf(error, capacity, "not an IP address: %s", ips[i]);
            ERR_clear_error();
            GENERAL_NAMES_free(names);
            return -1;
        }
        GENERAL_NAME *name = GENERAL_NAME_new();
        if (!name) { ASN1_OCTET_STRING_free(address); ok = 0; break; }
        GENERAL_NAME_set0_value(name, GEN_IPADD, address);
        if (!sk_GENERAL_NAME_push(names, name)) { GENERAL_NAME_free(name); ok = 0; }
    }
    if (ok && sk_GENERAL_NAME_num(names) > 0) {
        ok = X509_add1_ext_i2d(certificate, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    }
    GENERAL_NAMES_free(names);
    return ok;
}

static int finish(X509 *certificate, EVP_PKEY *key, char **certificate_pem, char **private_key_pem) {
    *certificate_pem = certificate_to_pem(certificate);
    *private_key_pem = private_key_to_pem(key);
    if (*certificate_pem && *private_key_pem) return 1;
    free(*certificate_pem);
    free(*private_key_pem);
    *certificate_pem = *private_key_pem = NULL;
    return 0;
}

int cashier_tls_make_authority(const char *common_name, int valid_days, char **certificate_pem,
                               char **private_key_pem, char *error, size_t error_capacity) {
    *certificate_pem = *private_key_pem = NULL;
    EVP_PKEY *key = new_p256_key();
    X509 *certificate = X509_new();
    int ok = key && certificate && set_basics(certificate, common_name, valid_days, key) &&
             X509_set_issuer_name(certificate, X509_get_subject_name(certificate)) == 1 &&
             add_extension(certificate, certificate, NID_basic_constraints, "critical,CA:TRUE") &&
             add_extension(certificate, certificate, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_extension(certificate, certificate, NID_subject_key_identifier, "hash") &&
             X509_sign(certificate, key, EVP_sha256()) > 0 &&
             finish(certificate, key, certificate_pem, private_key_pem);
    if (!ok) fail("cannot create the certificate authority", error, error_capacity);
    X509_free(certificate);
    EVP_PKEY_free(key);
    return ok;
}

int cashier_tls_issue_server(const char *authority_certificate_pem, const char *authority_private_key_pem,
                             const char *common_name, const char *const *dns_names, size_t dns_count,
                             const char *const *ip_addresses, size_t ip_count, int valid_days,
                             char **certificate_pem, char **private_key_pem, char *error, size_t error_capacity) {
    *certificate_pem = *private_key_pem = NULL;
    X509 *authority = certificate_from_pem(authority_certificate_pem);
    EVP_PKEY *authority_key = private_key_from_pem(authority_private_key_pem);
    if (!authority || !authority_key) {
        X509_free(authority);
        EVP_PKEY_free(authority_key);
        return fail("cannot read the certificate authority", error, error_capacity);
    }
    if (X509_check_private_key(authority, authority_key) != 1) {
        X509_free(authority);
        EVP_PKEY_free(authority_key);
        return fail("the authority's private key does not match its certificate", error, error_capacity);
    }
    EVP_PKEY *key = new_p256_key();
    X509 *certificate = X509_new();
    int ok = key && certificate && set_basics(certificate, common_name, valid_days, key) &&
             X509_set_issuer_name(certificate, X509_get_subject_name(authority)) == 1 &&
             add_extension(certificate, authority, NID_basic_constraints, "critical,CA:FALSE") &&
             add_extension(certificate, authority, NID_key_usage, "critical,digitalSignature") &&
             add_extension(certificate, authority, NID_ext_key_usage, "serverAuth") &&
             add_extension(certificate, authority, NID_subject_key_identifier, "hash") &&
             add_extension(certificate, authority, NID_authority_key_identifier, "keyid:always");
    int names = ok ? add_subject_alt_names(certificate, dns_names, dns_count, ip_addresses, ip_count, error,
                                           error_capacity)
                   : 0;
    if (names < 0) {
        ok = 0; // error already written
    } else {
        ok = ok && names == 1 && X509_sign(certificate, authority_key, EVP_sha256()) > 0 &&
             finish(certificate, key, certificate_pem, private_key_pem);
        if (!ok) fail("cannot issue the server certificate", error, error_capacity);
    }
    X509_free(certificate);
    EVP_PKEY_free(key);
    X509_free(authority);
    EVP_PKEY_free(authority_key);
    return ok;
}

int cashier_tls_public_key_sha256(const char *certificate_pem, uint8_t digest[32], char *error,
                                  size_t error_capacity) {
    X509 *certificate = certificate_from_pem(certificate_pem);
    if (!certificate) return fail("cannot read the certificate", error, error_capacity);
    unsigned char *der = NULL;
    int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &der);
    X509_free(certificate);
    if (length <= 0) return fail("cannot encode the public key", error, error_capacity);
    unsigned int size = 0;
    int ok = EVP_Digest(der, (size_t)length, digest, &size, EVP_sha256(), NULL) == 1 && size == 32;
    OPENSSL_free(der);
    if (!ok) return fail("cannot hash the public key", error, error_capacity);
    return 1;
}

void cashier_tls_free(char *pem) { free(pem); }
