import CashierCrypto

/// The names of the headers that carry a signature, on requests and on responses.
public enum SignatureHeader {
    public static let device = "X-Cashier-Device"
    public static let timestamp = "X-Cashier-Timestamp"
    public static let nonce = "X-Cashier-Nonce"
    public static let signature = "X-Cashier-Signature"
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

    /// The canonical request: eight lines joined by "\n", no trailing newline.
    public var canonicalForm: String {
        [
            "CASHIER-HMAC-SHA256",
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

    /// The canonical response: eight lines joined by "\n", no trailing newline.
    public var canonicalForm: String {
        [
            "CASHIER-HMAC-SHA256-RESPONSE",
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

/// HMAC-SHA256 request and response signatures: the one implementation used by client and service.
public enum Signing {
    /// Requests and responses whose timestamp is further than this from the verifier's clock are refused.
    public static let defaultSkewSeconds: Int64 = 300

    /// Hex HMAC-SHA256 of `canonical` under `key`.
    public static func signature(of canonical: String, key: [UInt8]) -> String {
        Hex.encode(Crypto.hmacSHA256(key: key, message: Array(canonical.utf8)))
    }

    public static func sign(_ request: RequestToSign, key: [UInt8]) -> String {
        signature(of: request.canonicalForm, key: key)
    }

    public static func sign(_ response: ResponseToSign, key: [UInt8]) -> String {
        signature(of: response.canonicalForm, key: key)
    }

    /// Checks a hex signature in constant time; false for anything malformed.
    public static func verify(_ canonical: String, signature: String, key: [UInt8]) -> Bool {
        guard let given = Hex.decode(signature), given.count == 32 else { return false }
        let expected = Crypto.hmacSHA256(key: key, message: Array(canonical.utf8))
        return Crypto.constantTimeEqual(given, expected)
    }

    public static func verify(_ request: RequestToSign, signature: String, key: [UInt8]) -> Bool {
        verify(request.canonicalForm, signature: signature, key: key)
    }

    public static func verify(_ response: ResponseToSign, signature: String, key: [UInt8]) -> Bool {
        verify(response.canonicalForm, signature: signature, key: key)
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
