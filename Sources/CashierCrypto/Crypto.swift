import COpenSSL

/// Thin wrappers over OpenSSL's libcrypto: hashing, HMAC, randomness, PIN hashing (Ed25519 below).
///
/// This is the only module that calls libcrypto for these primitives; everything else works with
/// `[UInt8]` and hex strings.
public enum Crypto {
    /// SHA-256 of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBufferPointer { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest
    }

    /// SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256(_ text: String) -> [UInt8] { sha256(Array(text.utf8)) }

    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                // HMAC() returns NULL only on allocation failure.
                let result = HMAC(EVP_sha256(), k.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(k.count),
                                  m.baseAddress, m.count, &mac, &length)
                precondition(result != nil && length == 32, "HMAC-SHA256 failed")
            }
        }
        return mac
    }

    /// Compares two byte strings in time that depends only on their length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return bytes
    }

    /// A uniformly random integer in `0..<bound` from the CSPRNG (rejection sampling, no modulo bias).
    public static func randomInt(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let limit = UInt64.max - (UInt64.max % bound)
        while true {
            let bytes = randomBytes(8)
            let value = bytes.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            if value < limit { return value % bound }
        }
    }

    /// PBKDF2-HMAC-SHA256: a slow, salted hash for PINs.
    public static func pbkdf2SHA256(password: String, salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let pw = Array(password.utf8)
        let ok = pw.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                p.withMemoryRebound(to: CChar.self) { pc in
                    PKCS5_PBKDF2_HMAC(pc.baseAddress, Int32(pc.count), s.baseAddress, Int32(s.count),
                                      Int32(iterations), EVP_sha256(), Int32(length), &out)
                }
            }
        }
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }
}

/// Lower-case hexadecimal encoding and decoding.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil for odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Ed25519 signatures (RFC 8032) through libcrypto's `EVP_PKEY_ED25519`.
///
/// A private key is its 32-byte seed (RFC 8032's "private key"); a public key is 32 bytes; a signature
/// is 64 bytes and deterministic: the same key and message always give the same signature.
public enum Ed25519 {
    public static let seedLength = 32
    public static let publicKeyLength = 32
    public static let signatureLength = 64

    /// A private key ready to sign; the libcrypto key is made once and reused (signing does not change it,
    /// so one key may sign on several threads at once).
    public final class PrivateKey: @unchecked Sendable {
        // @unchecked: `key` is never changed after init; every signature gets its own EVP_MD_CTX.
        private let key: OpaquePointer
        /// The 32-byte seed: what the terminal keeps in its keystore.
        public let seed: [UInt8]
        /// The 32-byte public key: what the other side stores.
        public let publicKey: [UInt8]

        /// The key of a 32-byte seed; nil for any other length.
        public init?(seed: [UInt8]) {
            guard seed.count == Ed25519.seedLength else { return nil }
            guard let key = seed.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
            }) else {
                ERR_clear_error()
                return nil
            }
            guard let publicKey = Self.rawPublicKey(key) else {
                EVP_PKEY_free(key)
                return nil
            }
            self.key = key
            self.seed = seed
            self.publicKey = publicKey
        }

        /// A new key pair from OpenSSL's key generator (its CSPRNG).
        public static func generate() -> PrivateKey {
            let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil)
            defer { EVP_PKEY_CTX_free(context) }
            var generated: OpaquePointer?
            precondition(context != nil && EVP_PKEY_keygen_init(context) == 1 && EVP_PKEY_keygen(context, &generated) == 1,
                         "Ed25519 key generation failed")
            defer { EVP_PKEY_free(generated) }
            var seed = [UInt8](repeating: 0, count: Ed25519.seedLength)
            var length = seed.count
            precondition(EVP_PKEY_get_raw_private_key(generated, &seed, &length) == 1 && length == Ed25519.seedLength,
                         "reading the Ed25519 private key failed")
            return PrivateKey(seed: seed)!
        }

        deinit { EVP_PKEY_free(key) }

        /// The 64-byte signature of `message` (the whole message: Ed25519 hashes it itself).
        public func sign(_ message: [UInt8]) -> [UInt8] {
            let context = EVP_MD_CTX_new()
            defer { EVP_MD_CTX_free(context) }
            var signature = [UInt8](repeating: 0, count: Ed25519.signatureLength)
            var length = signature.count
            let ok = Ed25519.withMessage(message) { bytes, count in
                EVP_DigestSignInit(context, nil, nil, nil, key) == 1
                    && EVP_DigestSign(context, &signature, &length, bytes, count) == 1
            }
            precondition(ok && length == Ed25519.signatureLength, "Ed25519 signing failed")
            return signature
        }

        private static func rawPublicKey(_ key: OpaquePointer) -> [UInt8]? {
            var publicKey = [UInt8](repeating: 0, count: Ed25519.publicKeyLength)
            var length = publicKey.count
            guard EVP_PKEY_get_raw_public_key(key, &publicKey, &length) == 1, length == Ed25519.publicKeyLength else {
                ERR_clear_error()
                return nil
            }
            return publicKey
        }
    }

    /// Whether `signature` is `publicKey`'s signature of `message`; false for anything malformed (wrong
    /// lengths, a public key that is no curve point, a non-canonical signature).
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else { return false }
        guard let key = publicKey.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
        }) else {
            ERR_clear_error()
            return false
        }
        defer { EVP_PKEY_free(key) }
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        let ok = withMessage(message) { bytes, count in
            EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
                && EVP_DigestVerify(context, signature, signature.count, bytes, count) == 1
        }
        // A failed verification leaves a reason in OpenSSL's per-thread error queue; a later TLS call on
        // this thread must not find it there.
        if !ok { ERR_clear_error() }
        return ok
    }

    /// Lends libcrypto the message's bytes and length; a valid pointer even for an empty message.
    private static func withMessage<R>(_ message: [UInt8], _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        let bytes = message.isEmpty ? [0] : message
        return bytes.withUnsafeBufferPointer { body($0.baseAddress!, message.count) }
    }
}
