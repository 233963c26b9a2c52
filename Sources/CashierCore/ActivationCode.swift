import CashierCrypto

/// Activation codes as RFC 8628 recommends: 8 characters from an alphabet with no vowels or
/// look-alike characters, shown as `WDJB-MJHT`; dashes, spaces and case are ignored on entry.
public enum ActivationCode {
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")
    public static let length = 8

    /// A fresh random code in display form (`XXXX-XXXX`), about 34.6 bits of entropy.
    public static func generate() -> String {
        let chars = (0..<length).map { _ in alphabet[Int(Crypto.randomInt(below: UInt64(alphabet.count)))] }
        return display(String(chars))
    }

    /// Upper-cases and removes dashes and spaces.
    public static func normalize(_ text: String) -> String {
        String(text.uppercased().filter { $0 != "-" && $0 != " " })
    }

    /// Whether a normalized code could have been issued (right length and alphabet).
    public static func isWellFormed(_ text: String) -> Bool {
        let n = normalize(text)
        return n.count == length && n.allSatisfy { alphabet.contains($0) }
    }

    /// `WDJBMJHT` → `WDJB-MJHT`.
    public static func display(_ text: String) -> String {
        let n = normalize(text)
        guard n.count == length else { return n }
        return String(n.prefix(4)) + "-" + String(n.suffix(4))
    }
}
