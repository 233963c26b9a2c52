import COpenSSL

/// Why an RSA key could not be read or used. Never contains key material.
public struct RSAKeyError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An RSA private key for PKCS#1 v1.5 signatures with SHA-256 ("SHA256withRSA", Alipay's RSA2).
///
/// Reads a PEM `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8, unencrypted), or the bare base64 of
/// either DER form, as key tools and payment consoles hand them out. `@unchecked Sendable`: the
/// wrapped `EVP_PKEY` is never changed after init, and OpenSSL allows one key to be used by many
/// threads at once as long as each signature has its own context (which `sign` makes).
public final class RSAPrivateKey: @unchecked Sendable {
    private let key: OpaquePointer
    /// The modulus size in bits.
    public let bits: Int

    public init(text: String) throws(RSAKeyError) {
        let (label, der) = try RSAKeyText.decode(text, what: "private key")
        guard label == nil || label == "RSA PRIVATE KEY" || label == "PRIVATE KEY" else {
            throw RSAKeyError("not a private key (PEM label \(label!))")
        }
        // d2i_AutoPrivateKey reads both the PKCS#8 and the traditional (PKCS#1) structure.
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let key = d2i_AutoPrivateKey(nil, &cursor, buffer.count) else { return nil }
            guard cursor == buffer.baseAddress.map({ $0 + buffer.count }) else { EVP_PKEY_free(key); return nil }
            return key
        }
        ERR_clear_error()
        guard let parsed else { throw RSAKeyError("cannot read the private key (neither PKCS#1 nor PKCS#8 DER)") }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw RSAKeyError("the private key is not an RSA key")
        }
        key = parsed
        bits = Int(EVP_PKEY_get_bits(parsed))
    }

    deinit { EVP_PKEY_free(key) }

    /// The PKCS#1 v1.5 SHA-256 signature of `message`.
    public func signSHA256(_ message: [UInt8]) throws(RSAKeyError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw RSAKeyError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context); ERR_clear_error() }
        // RSA keys sign with PKCS#1 v1.5 padding unless told otherwise.
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else { throw RSAKeyError("EVP_DigestSignInit failed") }
        var length = 0
        let sized = message.withUnsafeBufferPointer { m in EVP_DigestSign(context, nil, &length, m.baseAddress, m.count) }
        guard sized == 1, length > 0 else { throw RSAKeyError("EVP_DigestSign (size) failed") }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = message.withUnsafeBufferPointer { m in
            signature.withUnsafeMutableBufferPointer { s in EVP_DigestSign(context, s.baseAddress, &length, m.baseAddress, m.count) }
        }
        guard signed == 1 else { throw RSAKeyError("EVP_DigestSign failed") }
        return Array(signature.prefix(length))
    }
}

/// An RSA public key for checking PKCS#1 v1.5 SHA-256 signatures.
///
/// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1), or the bare base64 of
/// either DER form (what Alipay's console shows as "Alipay public key"). `@unchecked Sendable` for the
/// same reason as `RSAPrivateKey`.
public final class RSAPublicKey: @unchecked Sendable {
    private let key: OpaquePointer
    public let bits: Int

    public init(text: String) throws(RSAKeyError) {
        let (label, der) = try RSAKeyText.decode(text, what: "public key")
        guard label == nil || label == "PUBLIC KEY" || label == "RSA PUBLIC KEY" else {
            throw RSAKeyError("not a public key (PEM label \(label!))")
        }
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            let end = buffer.baseAddress.map { $0 + buffer.count }
            if label != "RSA PUBLIC KEY" {
                var cursor = buffer.baseAddress
                if let key = d2i_PUBKEY(nil, &cursor, buffer.count) {
                    if cursor == end { return key }
                    EVP_PKEY_free(key)
                }
            }
            if label != "PUBLIC KEY" {
                var cursor = buffer.baseAddress
                if let key = d2i_PublicKey(EVP_PKEY_RSA, nil, &cursor, buffer.count) {
                    if cursor == end { return key }
                    EVP_PKEY_free(key)
                }
            }
            return nil
        }
        ERR_clear_error()
        guard let parsed else { throw RSAKeyError("cannot read the public key (neither SubjectPublicKeyInfo nor PKCS#1 DER)") }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw RSAKeyError("the public key is not an RSA key")
        }
        key = parsed
        bits = Int(EVP_PKEY_get_bits(parsed))
    }

    deinit { EVP_PKEY_free(key) }

    /// True only if `signature` is a valid PKCS#1 v1.5 SHA-256 signature of exactly `message`.
    public func verifySHA256(_ message: [UInt8], signature: [UInt8]) -> Bool {
        guard !signature.isEmpty, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context); ERR_clear_error() }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        let result = message.withUnsafeBufferPointer { m in
            signature.withUnsafeBufferPointer { s in EVP_DigestVerify(context, s.baseAddress, s.count, m.baseAddress, m.count) }
        }
        return result == 1
    }
}

/// PEM or bare base64 key text to DER.
enum RSAKeyText {
    /// The PEM label (nil for bare base64) and the DER bytes.
    static func decode(_ text: String, what: String) throws(RSAKeyError) -> (label: String?, der: [UInt8]) {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw RSAKeyError("the \(what) is empty") }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") }) else {
            // Bare base64, possibly wrapped.
            guard let der = Base64.decode(lines.joined(), ignoringWhitespace: true), !der.isEmpty else {
                throw RSAKeyError("the \(what) is neither PEM nor base64")
            }
            return (nil, der)
        }
        let opening = lines[begin]
        guard opening.hasSuffix("-----"), opening.count > 16 else { throw RSAKeyError("malformed PEM header in the \(what)") }
        let label = String(opening.dropFirst(11).dropLast(5))
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else {
            throw RSAKeyError("the \(what) has no PEM end line for \(label)")
        }
        let body = lines[(begin + 1)..<end]
        if label.contains("ENCRYPTED") || body.contains(where: { $0.hasPrefix("Proc-Type:") || $0.hasPrefix("DEK-Info:") }) {
            throw RSAKeyError("the \(what) is encrypted; give it unencrypted (file mode 0600)")
        }
        guard let der = Base64.decode(body.joined(), ignoringWhitespace: true), !der.isEmpty else {
            throw RSAKeyError("the \(what)'s PEM body is not base64")
        }
        return (label, der)
    }
}

private extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
