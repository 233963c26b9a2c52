/// The rules for free-text fields of requests (`client_ref`, item names, `reason`, `device_name`):
/// lengths count Unicode code points, as the OpenAPI document's `maxLength` does (one user-perceived
/// character made of 30,000 code points is 30,000 long), and control characters (U+0000–U+001F,
/// U+007F–U+009F) are refused: a NUL cut stored text short, and none of these fields has a use for them.
/// Text that passes is stored verbatim.
public enum TextField {
    /// Why `value` is not acceptable for `field`, or nil when it is.
    public static func problem(_ value: String, field: String, minCodePoints: Int = 1, maxCodePoints: Int) -> String? {
        var count = 0
        for scalar in value.unicodeScalars {
            if isControl(scalar) {
                return "\(field) must not contain control characters (U+\(String(scalar.value, radix: 16, uppercase: true)))"
            }
            count += 1
        }
        guard count >= minCodePoints, count <= maxCodePoints else {
            return minCodePoints > 0 ? "\(field) must be \(minCodePoints) to \(maxCodePoints) characters"
                                     : "\(field) is at most \(maxCodePoints) characters"
        }
        return nil
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
