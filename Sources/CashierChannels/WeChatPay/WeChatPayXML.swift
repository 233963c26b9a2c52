/// The XML of WeChat Pay's API v2: one flat `<xml>` element whose children each hold one text value.
///
/// Pure: bytes in, fields out. The reader accepts exactly what the provider sends — an optional XML
/// declaration, then `<xml>` with child elements holding plain text (with the five predefined entities
/// and character references) and/or CDATA sections — and refuses everything else: any `<!DOCTYPE`,
/// entity declaration or unknown entity (no XXE, no entity expansion), comments, processing
/// instructions inside the document, attributes, nested elements, text between elements, repeated
/// names, invalid UTF-8, control characters, and anything larger than the size bound.
public enum WeChatPayXML {
    /// The largest document read by default; the API's answers are a few hundred bytes.
    public static let maxBytesDefault = 64 * 1024
    /// The most fields one document may hold.
    public static let maxFields = 512
    /// The longest element name.
    static let maxNameBytes = 64

    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var reason: String
        public var description: String { "unreadable WeChat Pay XML: \(reason)" }
    }

    // MARK: - Writing

    /// The document for `fields`, in the order given. Values that need no escaping are written as plain
    /// text, others in CDATA (or, if they hold `]]>`, as escaped text).
    /// - Throws: `Failure` for a name that is not `[A-Za-z0-9_]+` or a value with a character XML 1.0
    ///   cannot carry (a control character other than tab, LF, CR).
    public static func encode(_ fields: [(String, String)]) throws(Failure) -> [UInt8] {
        var out = Array("<xml>".utf8)
        for (name, value) in fields {
            guard isValidName(name) else { throw Failure(reason: "the name \(printable(name)) cannot be written") }
            guard isEncodable(value) else { throw Failure(reason: "the value of \(name) holds a control character") }
            out += Array("<\(name)>".utf8)
            if value.utf8.allSatisfy(isPlainByte) {
                out += Array(value.utf8)
            } else if !value.contains("]]>") {
                out += Array("<![CDATA[".utf8) + Array(value.utf8) + Array("]]>".utf8)
            } else {
                out += escaped(value)
            }
            out += Array("</\(name)>".utf8)
        }
        out += Array("</xml>".utf8)
        return out
    }

    /// Whether `value` can travel in a document (no control characters but tab, LF, CR).
    public static func isEncodable(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { isXMLChar($0.value) }
    }

    // MARK: - Reading

    /// The fields of one document.
    /// - Throws: `Failure` for anything but one flat `<xml>` document within `maxBytes`.
    public static func decode(_ bytes: [UInt8], maxBytes: Int = maxBytesDefault) throws(Failure) -> [String: String] {
        guard bytes.count <= maxBytes else { throw Failure(reason: "larger than \(maxBytes) bytes") }
        var reader = Reader(bytes: bytes)
        return try reader.document()
    }

    /// The bytes of a document start like XML (after whitespace): used to tell an XML failure answer from
    /// a bill, which is plain text.
    public static func looksLikeXML(_ bytes: [UInt8]) -> Bool {
        bytes.first(where: { !isSpace($0) && $0 != 0xEF && $0 != 0xBB && $0 != 0xBF }) == UInt8(ascii: "<")
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() throws(Failure) -> [String: String] {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
            skipSpace()
            if peek("<?") { try declaration() }
            skipSpace()
            if peek("<!") { throw refusedMarkup() }
            try expect("<xml")
            skipSpace()
            try expect(">")
            var fields: [String: String] = [:]
            while true {
                skipSpace()
                guard i < bytes.count else { throw Failure(reason: "the document ends before </xml>") }
                if peek("</") {
                    i += 2
                    let name = try name()
                    guard name == "xml" else { throw Failure(reason: "</\(name)> closes nothing open") }
                    skipSpace()
                    try expect(">")
                    break
                }
                if peek("<!") { throw refusedMarkup() }
                if peek("<?") { throw Failure(reason: "a processing instruction inside the document") }
                guard bytes[i] == UInt8(ascii: "<") else { throw Failure(reason: "text between elements") }
                i += 1
                let (key, value) = try element()
                guard fields[key] == nil else { throw Failure(reason: "the field \(key) appears twice") }
                guard fields.count < WeChatPayXML.maxFields else { throw Failure(reason: "more than \(WeChatPayXML.maxFields) fields") }
                fields[key] = value
            }
            skipSpace()
            guard i == bytes.count else { throw Failure(reason: "content after </xml>") }
            return fields
        }

        /// `<?xml …?>` at the very start; its encoding, if named, must be UTF-8.
        mutating func declaration() throws(Failure) {
            try expect("<?xml")
            guard i < bytes.count, isSpace(bytes[i]) || peek("?>") else { throw Failure(reason: "a processing instruction before the document") }
            let start = i
            while i < bytes.count, !peek("?>") {
                guard bytes[i] != UInt8(ascii: "<"), i - start < 200 else { throw Failure(reason: "a malformed XML declaration") }
                i += 1
            }
            try expect("?>")
            let text = String(decoding: bytes[start..<(i - 2)], as: UTF8.self).lowercased()
            if let range = text.range(of: "encoding") {
                let rest = text[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
                guard rest.hasPrefix("utf-8") || rest.hasPrefix("utf8") else { throw Failure(reason: "an encoding other than UTF-8") }
            }
        }

        /// One child element after its `<`: `name>value</name>` or `name/>`.
        mutating func element() throws(Failure) -> (String, String) {
            let key = try name()
            skipSpace()
            if peek("/>") { i += 2; return (key, "") }
            guard i < bytes.count else { throw Failure(reason: "the document ends inside <\(key)>") }
            guard bytes[i] == UInt8(ascii: ">") else { throw Failure(reason: "attributes on <\(key)>") }
            i += 1
            var value: [UInt8] = []
            while true {
                guard i < bytes.count else { throw Failure(reason: "the document ends inside <\(key)>") }
                let b = bytes[i]
                if b == UInt8(ascii: "<") {
                    if peek("<![CDATA[") {
                        i += 9
                        let start = i
                        while i < bytes.count, !peek("]]>") { i += 1 }
                        guard i < bytes.count else { throw Failure(reason: "an unterminated CDATA section in <\(key)>") }
                        value += bytes[start..<i]
                        i += 3
                        continue
                    }
                    if peek("</") {
                        i += 2
                        let closing = try name()
                        guard closing == key else { throw Failure(reason: "<\(key)> closed by </\(closing)>") }
                        skipSpace()
                        try expect(">")
                        break
                    }
                    if peek("<!") { throw refusedMarkup() }
                    throw Failure(reason: "an element nested in <\(key)>")
                }
                if b == UInt8(ascii: "&") {
                    value += try reference()
                    continue
                }
                value.append(b)
                i += 1
            }
            let text = String(decoding: value, as: UTF8.self)
            guard Array(text.utf8) == value else { throw Failure(reason: "invalid UTF-8 in <\(key)>") }
            guard WeChatPayXML.isEncodable(text) else { throw Failure(reason: "a control character in <\(key)>") }
            return (key, text)
        }

        /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xHH;` — no other entity exists here.
        mutating func reference() throws(Failure) -> [UInt8] {
            let start = i
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: ";"), i - start < 12 { i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: ";") else { throw Failure(reason: "an unterminated entity reference") }
            let body = String(decoding: bytes[(start + 1)..<i], as: UTF8.self)
            i += 1
            switch body {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                var number: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") {
                    number = UInt32(body.dropFirst(2), radix: 16)
                } else if body.hasPrefix("#") {
                    number = UInt32(body.dropFirst(), radix: 10)
                }
                guard let number else { throw Failure(reason: "the entity &\(printable(body)); is refused (no entities beyond XML's five)") }
                guard isXMLChar(number), let scalar = Unicode.Scalar(number) else {
                    throw Failure(reason: "a character reference to a character XML cannot carry")
                }
                return Array(String(Character(scalar)).utf8)
            }
        }

        mutating func name() throws(Failure) -> String {
            let start = i
            while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
            guard i > start, i - start <= WeChatPayXML.maxNameBytes else { throw Failure(reason: "a malformed element name") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        func refusedMarkup() -> Failure {
            if peek("<!DOCTYPE") || peek("<!doctype") || peek("<!ENTITY") {
                return Failure(reason: "a DOCTYPE or entity declaration (refused: XXE)")
            }
            if peek("<!--") { return Failure(reason: "a comment") }
            return Failure(reason: "markup declarations are refused")
        }

        mutating func skipSpace() { while i < bytes.count, isSpace(bytes[i]) { i += 1 } }

        func peek(_ text: StaticString) -> Bool {
            let n = text.utf8CodeUnitCount
            guard i + n <= bytes.count else { return false }
            return text.withUTF8Buffer { buffer in
                var k = 0
                while k < n { if bytes[i + k] != buffer[k] { return false }; k += 1 }
                return true
            }
        }

        mutating func expect(_ text: StaticString) throws(Failure) {
            guard peek(text) else { throw Failure(reason: "expected \(text) at byte \(i)") }
            i += text.utf8CodeUnitCount
        }
    }

    // MARK: - Characters

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_")
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxNameBytes && name.utf8.allSatisfy(isNameByte)
    }

    /// Bytes written as they are: letters, digits and `_ . - : / + = @ , space` (no markup, no quotes).
    static func isPlainByte(_ b: UInt8) -> Bool {
        if isNameByte(b) { return true }
        switch b {
        case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "+"),
             UInt8(ascii: "="), UInt8(ascii: "@"), UInt8(ascii: ","), UInt8(ascii: " "):
            return true
        default:
            return false
        }
    }

    /// XML 1.0's Char production.
    static func isXMLChar(_ v: UInt32) -> Bool {
        v == 0x09 || v == 0x0A || v == 0x0D || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF)
    }

    static func escaped(_ value: String) -> [UInt8] {
        var out: [UInt8] = []
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "&"): out += Array("&amp;".utf8)
            case UInt8(ascii: "<"): out += Array("&lt;".utf8)
            case UInt8(ascii: ">"): out += Array("&gt;".utf8)
            default: out.append(b)
            }
        }
        return out
    }

    /// A short, printable rendering of untrusted text for error messages.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(40).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}
