import CashierCrypto

/// The names of the headers that carry a signature, on requests and on responses.
public enum SignatureHeader {
    public static let device = "X-Cashier-Device"
    public static let timestamp = "X-Cashier-Timestamp"
    public static let nonce = "X-Cashier-Nonce"
    public static let signature = "X-Cashier-Signature"
}

/// How a device's requests and the answers to them are signed. The service picks the scheme from the key
/// it stored for the device, never from anything the request says; the name is the canonical form's
/// first line, so a signature made under one scheme can never verify under the other.
public enum SigningScheme: String, Sendable, CaseIterable {
    /// HMAC-SHA256 under a 32-byte secret both sides hold: terminals activated before public keys.
    case hmacSHA256 = "CASHIER-HMAC-SHA256"
    /// Ed25519: the terminal signs with its private key and the service with its own, so each side
    /// stores only the other's public key.
    case ed25519 = "CASHIER-ED25519"

    /// The first line of a canonical response.
    public var responseName: String { rawValue + "-RESPONSE" }

    /// How many lower-case hex digits a signature has: 64 (32 bytes) or 128 (64 bytes).
    public var signatureHexLength: Int {
        switch self {
        case .hmacSHA256: return 64
        case .ed25519: return 2 * Ed25519.signatureLength
        }
    }
}

/// What makes signatures: the shared HMAC secret, or an Ed25519 private key.
public enum SigningKey: Sendable {
    case hmacSHA256(secret: [UInt8])
    case ed25519(Ed25519.PrivateKey)

    public var scheme: SigningScheme {
        switch self {
        case .hmacSHA256: return .hmacSHA256
        case .ed25519: return .ed25519
        }
    }

    /// The key that checks this key's signatures.
    public var verifyingKey: VerifyingKey {
        switch self {
        case .hmacSHA256(let secret): return .hmacSHA256(secret: secret)
        case .ed25519(let key): return .ed25519(publicKey: key.publicKey)
        }
    }
}

/// What checks signatures: the shared HMAC secret again, or an Ed25519 public key. The service keeps one
/// per device (the device's key); an Ed25519 terminal keeps the service's public key.
public enum VerifyingKey: Equatable, Sendable {
    case hmacSHA256(secret: [UInt8])
    case ed25519(publicKey: [UInt8])

    public var scheme: SigningScheme {
        switch self {
        case .hmacSHA256: return .hmacSHA256
        case .ed25519: return .ed25519
        }
    }
}

/// What a request signature covers. See docs/PROTOCOL.md, "Signing".
public struct RequestToSign: Equatable, Sendable {
    public var method: String
    /// The path without the query, e.g. `/v1/orders`.
    public var path: String
    /// Query parameters, already percent-decoded; order does not matter.
    public var query: [(String, String)]
    public var timestamp: Int64
    public var nonce: String
    public var deviceID: String
    public var body: [UInt8]

    public init(method: String, path: String, query: [(String, String)] = [], timestamp: Int64,
                nonce: String, deviceID: String, body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.timestamp = timestamp
        self.nonce = nonce
        self.deviceID = deviceID
        self.body = body
    }

    public static func == (a: RequestToSign, b: RequestToSign) -> Bool {
        a.canonicalForm == b.canonicalForm
    }

    /// The canonical request of the HMAC scheme: eight lines joined by "\n", no trailing newline.
    public var canonicalForm: String { canonicalForm(.hmacSHA256) }

    /// The canonical request under `scheme`: its name, then the same seven lines for every scheme.
    public func canonicalForm(_ scheme: SigningScheme) -> String {
        [
            scheme.rawValue,
            method.uppercased(),
            path,
            Signing.canonicalQuery(query),
            String(timestamp),
            nonce,
            deviceID,
            Hex.encode(Crypto.sha256(body)),
        ].joined(separator: "\n")
    }
}

/// What a response signature covers: the answer, bound to the one request it answers.
public struct ResponseToSign: Equatable, Sendable {
    public var status: Int
    public var requestMethod: String
    public var requestPath: String
    /// The nonce of the request being answered.
    public var requestNonce: String
    public var timestamp: Int64
    public var deviceID: String
    public var body: [UInt8]

    public init(status: Int, requestMethod: String, requestPath: String, requestNonce: String,
                timestamp: Int64, deviceID: String, body: [UInt8]) {
        self.status = status
        self.requestMethod = requestMethod
        self.requestPath = requestPath
        self.requestNonce = requestNonce
        self.timestamp = timestamp
        self.deviceID = deviceID
        self.body = body
    }

    /// The canonical response of the HMAC scheme: eight lines joined by "\n", no trailing newline.
    public var canonicalForm: String { canonicalForm(.hmacSHA256) }

    /// The canonical response under `scheme`: its response name, then the same seven lines for every scheme.
    public func canonicalForm(_ scheme: SigningScheme) -> String {
        [
            scheme.responseName,
            String(status),
            requestMethod.uppercased(),
            requestPath,
            requestNonce,
            String(timestamp),
            deviceID,
            Hex.encode(Crypto.sha256(body)),
        ].joined(separator: "\n")
    }
}

/// Request and response signatures (HMAC-SHA256 or Ed25519): the one implementation used by client and service.
public enum Signing {
    /// Requests and responses whose timestamp is further than this from the verifier's clock are refused.
    public static let defaultSkewSeconds: Int64 = 300

    /// Hex HMAC-SHA256 of `canonical` under `key`.
    public static func signature(of canonical: String, key: [UInt8]) -> String {
        Hex.encode(Crypto.hmacSHA256(key: key, message: Array(canonical.utf8)))
    }

    /// Lower-case hex signature of `canonical` under `key`: 64 digits (HMAC) or 128 (Ed25519).
    public static func signature(of canonical: String, with key: SigningKey) -> String {
        switch key {
        case .hmacSHA256(let secret): return signature(of: canonical, key: secret)
        case .ed25519(let privateKey): return Hex.encode(privateKey.sign(Array(canonical.utf8)))
        }
    }

    public static func sign(_ request: RequestToSign, key: [UInt8]) -> String {
        signature(of: request.canonicalForm, key: key)
    }

    public static func sign(_ response: ResponseToSign, key: [UInt8]) -> String {
        signature(of: response.canonicalForm, key: key)
    }

    /// Signs the request's canonical form under the key's own scheme.
    public static func sign(_ request: RequestToSign, with key: SigningKey) -> String {
        signature(of: request.canonicalForm(key.scheme), with: key)
    }

    public static func sign(_ response: ResponseToSign, with key: SigningKey) -> String {
        signature(of: response.canonicalForm(key.scheme), with: key)
    }

    /// Checks an HMAC signature in constant time; false for anything malformed, upper-case hex included.
    public static func verify(_ canonical: String, signature: String, key: [UInt8]) -> Bool {
        verify(canonical, signature: signature, with: .hmacSHA256(secret: key))
    }

    /// Checks a signature of `canonical` under `key`'s scheme; false for anything malformed. A signature is
    /// exactly the scheme's number of lower-case hex digits: upper case, spaces or any other form is refused,
    /// so there is one way to write each signature.
    public static func verify(_ canonical: String, signature: String, with key: VerifyingKey) -> Bool {
        guard signature.utf8.count == key.scheme.signatureHexLength, isLowerHex(signature),
              let given = Hex.decode(signature) else { return false }
        switch key {
        case .hmacSHA256(let secret):
            return Crypto.constantTimeEqual(given, Crypto.hmacSHA256(key: secret, message: Array(canonical.utf8)))
        case .ed25519(let publicKey):
            return Ed25519.verify(signature: given, message: Array(canonical.utf8), publicKey: publicKey)
        }
    }

    public static func verify(_ request: RequestToSign, signature: String, key: [UInt8]) -> Bool {
        verify(request.canonicalForm, signature: signature, key: key)
    }

    public static func verify(_ response: ResponseToSign, signature: String, key: [UInt8]) -> Bool {
        verify(response.canonicalForm, signature: signature, key: key)
    }

    /// Checks the request under the scheme of `key` (the key stored for the device), whatever the request claims.
    public static func verify(_ request: RequestToSign, signature: String, with key: VerifyingKey) -> Bool {
        verify(request.canonicalForm(key.scheme), signature: signature, with: key)
    }

    public static func verify(_ response: ResponseToSign, signature: String, with key: VerifyingKey) -> Bool {
        verify(response.canonicalForm(key.scheme), signature: signature, with: key)
    }

    /// The value of an `X-Cashier-Timestamp` header, only in its one canonical form: decimal digits with no
    /// sign, no leading zero (but `0` itself), no spaces, at most 2^63 - 1. So the canonical form's
    /// timestamp line, written from the number, is the header exactly as sent.
    public static func parseTimestamp(_ text: String) -> Int64? {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              digits.count == 1 || digits[0] != UInt8(ascii: "0"),
              let value = Int64(text), String(value) == text else { return nil }
        return value
    }

    /// Decodes a public key written as 64 lower-case hex digits (32 bytes); nil for anything else.
    public static func publicKey(hex text: String) -> [UInt8]? {
        guard text.utf8.count == 2 * Ed25519.publicKeyLength, isLowerHex(text) else { return nil }
        return Hex.decode(text)
    }

    private static func isLowerHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    /// The key that signs an activation response: SHA-256 of "cashier-activation:" + the normalized code.
    ///
    /// The terminal has no device key yet; the code it typed is the secret both sides share.
    public static func activationKey(code: String) -> [UInt8] {
        Crypto.sha256("cashier-activation:" + ActivationCode.normalize(code))
    }

    /// Whether `timestamp` is within `skew` seconds of `now`.
    /// Never traps: a timestamp so far off that the difference overflows is simply not fresh.
    public static func isFresh(timestamp: Int64, now: Int64, skew: Int64 = defaultSkewSeconds) -> Bool {
        let (difference, overflow) = timestamp.subtractingReportingOverflow(now)
        return !overflow && difference.magnitude <= UInt64(max(0, skew))
    }

    /// Whether a nonce has the required form: 16 to 64 characters of `A-Z a-z 0-9 _ -`.
    public static func isValidNonce(_ nonce: String) -> Bool {
        (16...64).contains(nonce.utf8.count) && nonce.utf8.allSatisfy(isTokenByte)
    }

    /// Whether a device id has the required form: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    public static func isValidDeviceID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy(isTokenByte)
    }

    /// A fresh random nonce: 32 hex characters (128 bits).
    public static func makeNonce() -> String { Hex.encode(Crypto.randomBytes(16)) }

    /// Percent-encodes each key and value (RFC 3986 unreserved characters stay), sorts the pairs by
    /// key then value (byte order), and joins them as `k=v&k=v`.
    public static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { (percentEncode($0.0), percentEncode($0.1)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// RFC 3986 percent-encoding of UTF-8 bytes; upper-case hex; `A-Z a-z 0-9 - . _ ~` unchanged.
    public static func percentEncode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            if isUnreserved(b) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                let hex = Array("0123456789ABCDEF")
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
        return out
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
    }
}
