import COpenSSL
import CShims

/// A certificate and its private key, both PEM; the key is unencrypted (write it with mode 0600).
public struct PEMPair: Sendable, Equatable {
    public var certificatePEM: String
    public var privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}

public struct CertificateError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Issues the private certificate authority and server certificates the service uses for TLS
/// (ECDSA P-256 keys, SHA-256 signatures, random 16-byte serials).
public enum Certificates {
    /// A self-signed CA certificate (CA:TRUE, keyCertSign) and its key.
    public static func makeCertificateAuthority(commonName: String, validDays: Int) throws -> PEMPair {
        try withPEMOutputs { certificate, key, error, capacity in
            cashier_tls_make_authority(commonName, Int32(clamping: validDays), certificate, key, error, capacity)
        }
    }

    /// A server certificate signed by `authority`, valid for the given DNS names and IP addresses.
    public static func issueServerCertificate(authority: PEMPair, commonName: String, dnsNames: [String],
                                              ipAddresses: [String], validDays: Int) throws -> PEMPair {
        try withCStringArray(dnsNames) { dns in
            try withCStringArray(ipAddresses) { ips in
                try withPEMOutputs { certificate, key, error, capacity in
                    cashier_tls_issue_server(authority.certificatePEM, authority.privateKeyPEM, commonName,
                                             dns, dnsNames.count, ips, ipAddresses.count,
                                             Int32(clamping: validDays), certificate, key, error, capacity)
                }
            }
        }
    }

    /// "sha256//<base64 of SHA-256 of the DER SubjectPublicKeyInfo>", the form libcurl's CURLOPT_PINNEDPUBLICKEY takes.
    public static func publicKeyPin(certificatePEM: String) throws -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var error = [CChar](repeating: 0, count: 256)
        guard cashier_tls_public_key_sha256(certificatePEM, &digest, &error, error.count) == 1 else {
            throw CertificateError(message: text(error))
        }
        var encoded = [UInt8](repeating: 0, count: 4 * ((digest.count + 2) / 3) + 1)
        let length = EVP_EncodeBlock(&encoded, digest, Int32(digest.count))
        return "sha256//" + String(decoding: encoded.prefix(Int(length)), as: UTF8.self)
    }

    private static func withPEMOutputs(
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                 UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws -> PEMPair {
        var certificate: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        var error = [CChar](repeating: 0, count: 256)
        let ok = error.withUnsafeMutableBufferPointer { buffer in
            body(&certificate, &key, buffer.baseAddress!, buffer.count)
        }
        defer {
            cashier_tls_free(certificate)
            cashier_tls_free(key)
        }
        guard ok == 1, let certificate, let key else { throw CertificateError(message: text(error)) }
        return PEMPair(certificatePEM: String(cString: certificate), privateKeyPEM: String(cString: key))
    }

    /// Lends C an array of NUL-terminated copies of `strings`.
    private static func withCStringArray<R>(_ strings: [String],
                                            _ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws -> R) rethrows -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) }
        return try pointers.withUnsafeBufferPointer { try body($0.baseAddress) }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
