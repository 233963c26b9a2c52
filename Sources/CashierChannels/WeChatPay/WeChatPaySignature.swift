import CashierCrypto

/// How a WeChat Pay v2 request and its answer are signed (`sign_type`).
public enum WeChatPaySignType: String, Codable, Sendable, Equatable, CaseIterable {
    case md5 = "MD5"
    case hmacSHA256 = "HMAC-SHA256"
}

/// WeChat Pay API v2's signature, exactly as published: every parameter whose value is not empty, except
/// `sign` itself, sorted by name in ASCII order, written `name=value` joined by `&`; then `&key=` and the
/// merchant's API key; then MD5 of that, or HMAC-SHA256 of it keyed with the API key; upper-case hex.
/// Names are case-sensitive and values are used as they are (no URL encoding). Answers are verified the
/// same way over every field they carry, fields unknown to us included.
public enum WeChatPaySignature {
    /// `name=value&…` over the parameters that take part (sorted by the bytes of their names).
    /// A name given twice counts once, with its last value.
    public static func stringA(_ parameters: [(String, String)]) -> String {
        var byName: [String: String] = [:]
        for (name, value) in parameters { byName[name] = value }
        return byName
            .filter { $0.key != "sign" && !$0.value.isEmpty }
            .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .map { "\($0.key)=\($0.value)" }
            .joined(separator: "&")
    }

    /// The `sign` value for `parameters` under `key`.
    public static func sign(_ parameters: [(String, String)], key: String, signType: WeChatPaySignType) -> String {
        let a = stringA(parameters)
        return digest((a.isEmpty ? "" : a + "&") + "key=" + key, key: key, signType: signType)
    }

    /// The `sign` value for a field dictionary.
    public static func sign(_ fields: [String: String], key: String, signType: WeChatPaySignType) -> String {
        sign(fields.map { ($0.key, $0.value) }, key: key, signType: signType)
    }

    /// Whether `fields` carry a `sign` that is theirs under `key` (compared in constant time).
    public static func verify(_ fields: [String: String], key: String, signType: WeChatPaySignType) -> Bool {
        guard let received = fields["sign"], !received.isEmpty else { return false }
        let expected = sign(fields, key: key, signType: signType)
        return Crypto.constantTimeEqual(Array(received.uppercased().utf8), Array(expected.utf8))
    }

    /// What the provider's signature-checking tool shows: the string that is hashed, with the key masked
    /// as `key=***`, and the resulting signature. For `cashierd channel sign`.
    public static func explain(parameters: [(String, String)], key: String,
                               signType: WeChatPaySignType) -> (stringSignTemp: String, sign: String) {
        let a = stringA(parameters)
        return (stringSignTemp: (a.isEmpty ? "" : a + "&") + "key=***", sign: sign(parameters, key: key, signType: signType))
    }

    static func digest(_ stringSignTemp: String, key: String, signType: WeChatPaySignType) -> String {
        switch signType {
        case .md5: return Crypto.md5UpperHex(stringSignTemp)
        case .hmacSHA256: return Crypto.hmacSHA256UpperHex(key: key, message: stringSignTemp)
        }
    }
}
