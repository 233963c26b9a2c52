import CashierCrypto

/// A staff PIN stored as a slow, salted hash: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
public struct PINHash: Equatable, Sendable, CustomStringConvertible {
    public let iterations: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// Default work factor; a PIN check costs a few milliseconds.
    public static let defaultIterations = 60_000

    /// Hashes `pin` with a fresh random salt.
    public static func make(pin: String, iterations: Int = defaultIterations) -> PINHash {
        let salt = Crypto.randomBytes(16)
        return PINHash(iterations: iterations, salt: salt, hash: Crypto.pbkdf2SHA256(password: pin, salt: salt, iterations: iterations))
    }

    public init(iterations: Int, salt: [UInt8], hash: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    /// Parses the stored form; nil if it is not one.
    public init?(encoded: String) {
        let parts = encoded.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let n = Int(parts[1]), n > 0,
              let s = Hex.decode(parts[2]), let h = Hex.decode(parts[3]), !h.isEmpty else { return nil }
        self.init(iterations: n, salt: s, hash: h)
    }

    public var encoded: String { "pbkdf2-sha256$\(iterations)$\(Hex.encode(salt))$\(Hex.encode(hash))" }

    /// Never prints the hash itself, so it cannot leak into logs.
    public var description: String { "PINHash(pbkdf2-sha256, \(iterations) iterations)" }

    /// Checks `pin` in constant time.
    public func matches(_ pin: String) -> Bool {
        Crypto.constantTimeEqual(Crypto.pbkdf2SHA256(password: pin, salt: salt, iterations: iterations, length: hash.count), hash)
    }

    /// Whether `pin` is an acceptable PIN: 4 to 12 digits.
    public static func isValidPIN(_ pin: String) -> Bool {
        (4...12).contains(pin.utf8.count) && pin.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}
