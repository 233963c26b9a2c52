import CashierCore
import CashierCrypto

/// One call to Alipay's OpenAPI gateway (`gateway.do`): the common parameters, the business
/// parameters as `biz_content` JSON, and the RSA2 signature over them. Pure: building and signing
/// need no I/O, so the exact bytes are tested without a network.
///
/// As Alipay publishes it for OpenAPI requests: every parameter except `sign` — `sign_type`
/// included (only asynchronous notifications leave `sign_type` out when they are checked) — whose
/// value is not empty, sorted by key (byte order), joined as `key=value` with `&`, values raw (not
/// URL-encoded), UTF-8; signed SHA256withRSA with the app's private key; base64.
public struct AlipayRequest: Sendable, Equatable {
    /// The common parameters that travel in the URL's query string (Alipay reads `charset` there).
    public var common: [(String, String)] { commonPairs.map { ($0.key, $0.value) } }
    /// All parameters that are signed, by name.
    public private(set) var parameters: [String: String]
    private var commonPairs: [Pair]

    struct Pair: Sendable, Equatable { var key: String; var value: String }

    /// Parameters sent in the form body rather than the query string: the business content, and
    /// the app authorisation token (a credential, kept out of URLs and so out of access logs).
    static let bodyParameters: Set<String> = ["biz_content", "app_auth_token"]

    /// - Parameters:
    ///   - method: the API, e.g. `alipay.trade.pay`.
    ///   - bizContent: the business parameters, already written as JSON (`AlipayJSON.object`).
    ///   - timestamp: `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (`AlipayTime.timestamp`).
    public init(appID: String, method: String, bizContent: String, timestamp: String, appAuthToken: String? = nil) {
        var p: [String: String] = [
            "app_id": appID,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": timestamp,
            "version": "1.0",
            "biz_content": bizContent,
        ]
        if let appAuthToken, !appAuthToken.isEmpty { p["app_auth_token"] = appAuthToken }
        parameters = p
        commonPairs = p.filter { !Self.bodyParameters.contains($0.key) }.sorted { $0.key < $1.key }.map { Pair(key: $0.key, value: $0.value) }
    }

    /// The published string to sign for any set of parameters: all but `sign`, non-empty values,
    /// sorted by key as bytes, `k=v` joined with `&`, values raw.
    public static func stringToSign(_ parameters: [String: String]) -> String {
        parameters
            .filter { $0.key != "sign" && !$0.value.isEmpty }
            .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .map { "\($0.key)=\($0.value)" }
            .joined(separator: "&")
    }

    /// The string this request signs.
    public var stringToSign: String { Self.stringToSign(parameters) }

    /// The base64 RSA2 signature of `stringToSign` with the app's private key.
    public func signature(with key: RSAPrivateKey) throws(RSAKeyError) -> String {
        Base64.encode(try key.signSHA256(Array(stringToSign.utf8)))
    }

    /// What goes on the wire: the gateway URL with the signed common parameters (and `sign`) as its
    /// query, and the form-encoded body (`application/x-www-form-urlencoded;charset=utf-8`).
    public func encoded(gateway: String, signature: String) -> (url: String, body: [UInt8]) {
        let query = (commonPairs.map { ($0.key, $0.value) } + [("sign", signature)])
            .map { "\(AlipayForm.escape($0.0))=\(AlipayForm.escape($0.1))" }.joined(separator: "&")
        let separator = gateway.contains("?") ? "&" : "?"
        let body = parameters.filter { Self.bodyParameters.contains($0.key) }.sorted { $0.key < $1.key }
            .map { "\(AlipayForm.escape($0.key))=\(AlipayForm.escape($0.value))" }.joined(separator: "&")
        return (gateway + separator + query, Array(body.utf8))
    }

    public static func == (a: AlipayRequest, b: AlipayRequest) -> Bool { a.parameters == b.parameters }
}

/// `application/x-www-form-urlencoded` values: every byte but RFC 3986's unreserved characters is
/// percent-encoded (a space as `%20`), so what the gateway decodes is exactly what was signed.
public enum AlipayForm {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0x0F)])
            }
        }
        return out
    }
}

/// The business parameters written as a JSON object in a fixed key order: strings escaped per
/// RFC 8259, other characters (Chinese subjects) as UTF-8. Nothing else is needed for `biz_content`.
public enum AlipayJSON {
    public enum Value: Sendable, Equatable {
        case string(String)
        case strings([String])
    }

    public static func object(_ members: [(String, Value?)]) -> String {
        var out = "{"
        var first = true
        for (key, value) in members {
            guard let value else { continue }
            if !first { out += "," }
            first = false
            out += quoted(key) + ":"
            switch value {
            case let .string(s): out += quoted(s)
            case let .strings(list): out += "[" + list.map(quoted).joined(separator: ",") + "]"
            }
        }
        return out + "}"
    }

    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Alipay's clock and amounts: timestamps in Asia/Shanghai (UTC+8 all year, no daylight saving),
/// amounts in yuan with two decimals.
public enum AlipayTime {
    static let shanghaiOffsetMs: Int64 = 8 * 3_600_000

    /// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai for Unix milliseconds.
    public static func timestamp(unixMs: Int64) -> String { local(unixMs).display }

    /// `yyyy-MM-dd` in Asia/Shanghai: the statement day a moment belongs to.
    public static func day(unixMs: Int64) -> String { local(unixMs).dayDisplay }

    /// The civil time in Asia/Shanghai of Unix milliseconds (whole seconds, rounded down).
    private static func local(_ unixMs: Int64) -> CivilTime {
        let local = unixMs + shanghaiOffsetMs
        return CivilTime(epochSeconds: local >= 0 ? local / 1000 : (local - 999) / 1000)
    }

    /// Unix milliseconds for `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai; nil if malformed.
    public static func unixMs(timestamp: String) -> Int64? {
        let parts = Array(timestamp.utf8)
        guard parts.count == 19, parts[4] == 0x2D, parts[7] == 0x2D, parts[10] == 0x20, parts[13] == 0x3A, parts[16] == 0x3A,
              let y = number(parts[0..<4]), let mo = number(parts[5..<7]), let d = number(parts[8..<10]),
              let h = number(parts[11..<13]), let mi = number(parts[14..<16]), let s = number(parts[17..<19]),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        return CivilTime.epochSeconds(year: y, month: mo, day: d, hour: h, minute: mi, second: s) * 1000 - shanghaiOffsetMs
    }

    /// True for a well-formed `yyyy-MM-dd`.
    public static func isDay(_ text: String) -> Bool { unixMs(timestamp: text + " 00:00:00") != nil }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var n: Int64 = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            n = n * 10 + Int64(b - 0x30)
        }
        return n
    }

}

public enum AlipayAmount {
    /// Minor units (fen) as yuan with two decimals: 1234 → "12.34".
    public static func yuan(fen: Int64) -> String {
        precondition(fen >= 0, "amounts sent to Alipay are never negative")
        let cents = fen % 100
        return "\(fen / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// Yuan as Alipay writes it ("12.34", "12.3", "12", "-0.50") to fen, exactly (no floating point);
    /// nil if malformed or with more than two decimals.
    public static func fen(yuan text: String) -> Int64? {
        var s = Substring(text)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let whole = parts.first, !whole.isEmpty, whole.count <= 12,
              whole.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 2, fraction.allSatisfy({ $0.isASCII && $0.isNumber }), parts.count == 1 || !fraction.isEmpty else { return nil }
        while fraction.count < 2 { fraction += "0" }
        guard let w = Int64(whole), let f = Int64(fraction) else { return nil }
        let value = w * 100 + f
        return negative ? -value : value
    }
}
