import COpenSSL

/// Digests that payment providers' older APIs are specified with (WeChat Pay's API v2 signs with MD5 or
/// HMAC-SHA256 and writes the result in upper-case hex). MD5 is no security primitive of ours: it is used
/// only where a provider's published signature demands it.
extension Crypto {
    /// MD5 of `data` (16 bytes).
    public static func md5(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        let ok = data.withUnsafeBufferPointer { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_md5(), nil)
        }
        precondition(ok == 1 && length == 16, "EVP_Digest(MD5) failed")
        return digest
    }

    /// Upper-case hex of the MD5 of the UTF-8 bytes of `text`.
    public static func md5UpperHex(_ text: String) -> String {
        Hex.encodeUpper(md5(Array(text.utf8)))
    }

    /// Upper-case hex of HMAC-SHA256 of the UTF-8 bytes of `message` under the UTF-8 bytes of `key`.
    public static func hmacSHA256UpperHex(key: String, message: String) -> String {
        Hex.encodeUpper(hmacSHA256(key: Array(key.utf8), message: Array(message.utf8)))
    }
}

extension Hex {
    private static let upperDigits = Array("0123456789ABCDEF".utf8)

    /// Upper-case hexadecimal encoding.
    public static func encodeUpper(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(upperDigits[Int(b >> 4)])
            out.append(upperDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
