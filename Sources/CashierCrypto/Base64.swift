/// Standard base64 (RFC 4648 §4, with `=` padding), written out by hand so that decoding is strict:
/// a character outside the alphabet, a wrong length or misplaced padding is refused, never skipped.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0…63 for alphabet bytes, 0xFF for everything else.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64; nil for anything malformed. With `ignoringWhitespace`, spaces, tabs, CR and
    /// LF are dropped first (PEM bodies and keys pasted from a console are wrapped).
    public static func decode(_ text: String, ignoringWhitespace: Bool = false) -> [UInt8]? {
        var input = Array(text.utf8)
        if ignoringWhitespace { input.removeAll { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A } }
        guard input.count % 4 == 0 else { return nil }
        if input.isEmpty { return [] }
        var padding = 0
        if input[input.count - 1] == UInt8(ascii: "=") { padding += 1 }
        if input[input.count - 2] == UInt8(ascii: "=") { padding += 1 }
        var out = [UInt8]()
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            let last = i + 4 == input.count
            var n: UInt32 = 0
            for j in 0..<4 {
                let c = input[i + j]
                let v: UInt8
                if c == UInt8(ascii: "=") {
                    // Padding only at the very end, in the last one or two places.
                    guard last, j >= 4 - padding else { return nil }
                    v = 0
                } else {
                    v = values[Int(c)]
                    guard v != 0xFF, !(last && j >= 4 - padding) else { return nil }
                }
                n = n << 6 | UInt32(v)
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if !(last && padding == 2) { out.append(UInt8(n >> 8 & 0xFF)) }
            if !(last && padding >= 1) { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        // The bits the padding leaves over must be zero, so that every byte string has one encoding.
        if padding > 0, encode(out) != String(decoding: input, as: UTF8.self) { return nil }
        return out
    }
}
