import CashierCrypto
import Foundation

/// One answer of the gateway, read as Alipay signs it: `{"<method>_response":{…},"sign":"…"}`, where
/// the signature covers the response object's bytes **exactly as they appear in the answer**. So the
/// object is cut out of the raw text by a small scanner (never parsed and written again: any change
/// of spacing, key order or escaping would change the bytes), and only its fields are parsed after.
///
/// Gateway-level errors come as `error_response`, and Alipay may leave them unsigned; an unsigned
/// answer is read (for operators) but never believed as a payment outcome (`AlipayChannel`).
public struct AlipayAnswer: Sendable, Equatable {
    /// The response object's name: `alipay_trade_pay_response`, …, or `error_response`.
    public var node: String
    /// The response object's exact bytes, the content the signature covers.
    public var signedContent: [UInt8]
    /// The base64 signature, if the answer had one.
    public var sign: String?
    /// The response object's top-level string (and number) members, by name.
    public var fields: [String: String]

    public var code: String { fields["code"] ?? "" }
    public var subCode: String { fields["sub_code"] ?? "" }

    /// Why an answer could not be read at all.
    public struct Unreadable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The response node a method answers with: `alipay.trade.pay` → `alipay_trade_pay_response`.
    public static func node(for method: String) -> String { method.replacingOccurrences(of: ".", with: "_") + "_response" }

    /// Reads an answer to `method`. Throws `Unreadable` for anything that is not a JSON object holding
    /// exactly one response node (the method's own, or `error_response`) and at most one `sign`.
    public static func read(_ body: [UInt8], method: String) throws(Unreadable) -> AlipayAnswer {
        let members: [(key: String, value: Range<Int>)]
        do { members = try RawJSON.topLevelMembers(body) } catch { throw Unreadable(description: "not a JSON object: \(error.description)") }
        let expected = node(for: method)
        var found: (String, Range<Int>)?
        var sign: String?
        var seen = Set<String>()
        for member in members {
            guard seen.insert(member.key).inserted else { throw Unreadable(description: "member \(member.key) appears twice") }
            switch member.key {
            case expected, "error_response":
                guard found == nil else { throw Unreadable(description: "two response objects") }
                found = (member.key, member.value)
            case "sign":
                guard let text = RawJSON.string(Array(body[member.value])) else { throw Unreadable(description: "sign is not a string") }
                sign = text
            default:
                continue  // alipay_cert_sn and other members Alipay may add
            }
        }
        guard let (name, range) = found else { throw Unreadable(description: "no \(expected) in the answer") }
        let content = Array(body[range])
        guard content.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(content)) as? [String: Any] else {
            throw Unreadable(description: "\(name) is not a JSON object")
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            if let s = value as? String { fields[key] = s } else if let n = value as? NSNumber, !(value is Bool) { fields[key] = n.stringValue }
        }
        return AlipayAnswer(node: name, signedContent: content, sign: sign, fields: fields)
    }

    /// True only if the answer carries a signature that Alipay's key made over `signedContent`.
    public func isSigned(by key: RSAPublicKey) -> Bool {
        guard let sign, let signature = Base64.decode(sign, ignoringWhitespace: false) else { return false }
        return key.verifySHA256(signedContent, signature: signature)
    }
}

/// A strict scanner that finds the byte ranges of a JSON object's members without interpreting them.
enum RawJSON {
    struct Malformed: Error, CustomStringConvertible { var description: String }

    static let maxDepth = 64

    /// The top-level object's members: each key (decoded) with the byte range of its raw value.
    static func topLevelMembers(_ b: [UInt8]) throws(Malformed) -> [(key: String, value: Range<Int>)] {
        var i = skipSpace(b, 0)
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw Malformed(description: "no opening brace") }
        i = skipSpace(b, i + 1)
        var members: [(key: String, value: Range<Int>)] = []
        if i < b.count, b[i] == UInt8(ascii: "}") {
            guard skipSpace(b, i + 1) == b.count else { throw Malformed(description: "bytes after the object") }
            return members
        }
        while true {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Malformed(description: "expected a key at byte \(i)") }
            let keyEnd = try endOfString(b, i)
            guard let key = string(Array(b[i..<keyEnd])) else { throw Malformed(description: "bad key at byte \(i)") }
            i = skipSpace(b, keyEnd)
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw Malformed(description: "expected ':' at byte \(i)") }
            let start = skipSpace(b, i + 1)
            let end = try endOfValue(b, start, depth: 1)
            members.append((key, start..<end))
            i = skipSpace(b, end)
            guard i < b.count else { throw Malformed(description: "unterminated object") }
            if b[i] == UInt8(ascii: ",") { i = skipSpace(b, i + 1); continue }
            guard b[i] == UInt8(ascii: "}") else { throw Malformed(description: "expected ',' or '}' at byte \(i)") }
            guard skipSpace(b, i + 1) == b.count else { throw Malformed(description: "bytes after the object") }
            return members
        }
    }

    /// Decodes one raw JSON string token (quotes included); nil if it is not one.
    static func string(_ token: [UInt8]) -> String? {
        guard token.first == UInt8(ascii: "\""), token.last == UInt8(ascii: "\""), token.count >= 2 else { return nil }
        if !token.contains(UInt8(ascii: "\\")) { return String(bytes: token.dropFirst().dropLast(), encoding: .utf8) }
        return (try? JSONSerialization.jsonObject(with: Data(token), options: .fragmentsAllowed)) as? String
    }

    private static func skipSpace(_ b: [UInt8], _ from: Int) -> Int {
        var i = from
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        return i
    }

    /// The index just past the string token starting at `start` (a quote).
    private static func endOfString(_ b: [UInt8], _ start: Int) throws(Malformed) -> Int {
        var i = start + 1
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            case 0..<0x20: throw Malformed(description: "control character in a string at byte \(i)")
            default: i += 1
            }
        }
        throw Malformed(description: "unterminated string")
    }

    /// The index just past the value starting at `start`.
    private static func endOfValue(_ b: [UInt8], _ start: Int, depth: Int) throws(Malformed) -> Int {
        guard depth <= maxDepth else { throw Malformed(description: "nested too deeply") }
        guard start < b.count else { throw Malformed(description: "missing value") }
        switch b[start] {
        case UInt8(ascii: "\""):
            return try endOfString(b, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = b[start] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = b[start] == UInt8(ascii: "{")
            var i = skipSpace(b, start + 1)
            if i < b.count, b[i] == close { return i + 1 }
            while true {
                if isObject {
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Malformed(description: "expected a key at byte \(i)") }
                    i = skipSpace(b, try endOfString(b, i))
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw Malformed(description: "expected ':' at byte \(i)") }
                    i = skipSpace(b, i + 1)
                }
                i = skipSpace(b, try endOfValue(b, i, depth: depth + 1))
                guard i < b.count else { throw Malformed(description: "unterminated container") }
                if b[i] == UInt8(ascii: ",") { i = skipSpace(b, i + 1); continue }
                guard b[i] == close else { throw Malformed(description: "expected ',' or a closing bracket at byte \(i)") }
                return i + 1
            }
        default:
            // A number, true, false or null: up to the next delimiter, and only the bytes these use.
            var i = start
            while i < b.count, !(b[i] == UInt8(ascii: ",") || b[i] == UInt8(ascii: "}") || b[i] == UInt8(ascii: "]")
                                 || b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D) {
                let c = b[i]
                guard (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                        || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || c == UInt8(ascii: "E") else {
                    throw Malformed(description: "unexpected byte at \(i)")
                }
                i += 1
            }
            guard i > start else { throw Malformed(description: "missing value at byte \(start)") }
            return i
        }
    }
}
