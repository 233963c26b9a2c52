import CashierCore
import CashierCrypto
import Foundation
import HTTPClient

/// What a terminal keeps after activation: its id, its key and the store it belongs to.
///
/// A terminal activated by this version has an Ed25519 key pair: `privateKey` signs its requests and
/// `servicePublicKey` checks the answers; the service holds only the matching public key. A terminal
/// activated before has a shared HMAC secret (`deviceSecret`) until it rotates to a key pair.
public struct DeviceCredentials: Codable, Equatable, Sendable {
    public var deviceId: String
    /// The HMAC secret, 64 hex characters; empty for a terminal with a key pair.
    public var deviceSecret: String
    public var store: StoreInfo
    /// The Ed25519 private key's 32-byte seed, 64 hex characters.
    public var privateKey: String?
    /// The service's Ed25519 public key, 64 hex characters.
    public var servicePublicKey: String?
    /// A key pair this terminal is rotating to (its seed): written here before the rotation is sent, and
    /// kept beside the current key until it is known which of the two the service holds.
    public var pendingPrivateKey: String?

    /// A terminal with a shared secret (activated before public keys).
    public init(deviceId: String, deviceSecret: String, store: StoreInfo) {
        self.deviceId = deviceId; self.deviceSecret = deviceSecret; self.store = store
    }

    /// A terminal with an Ed25519 key pair.
    public init(deviceId: String, privateKey: Ed25519.PrivateKey, servicePublicKey: String, store: StoreInfo) {
        self.deviceId = deviceId; self.deviceSecret = ""; self.store = store
        self.privateKey = Hex.encode(privateKey.seed); self.servicePublicKey = servicePublicKey
    }

    /// The HMAC secret's bytes (empty for a terminal with a key pair).
    public var key: [UInt8] { Hex.decode(deviceSecret) ?? [] }

    /// What signs this terminal's requests; nil when the keystore holds no usable key.
    public var signingKey: SigningKey? {
        if let privateKey {
            return Hex.decode(privateKey).flatMap(Ed25519.PrivateKey.init(seed:)).map { .ed25519($0) }
        }
        guard let secret = Hex.decode(deviceSecret), secret.count == 32 else { return nil }
        return .hmacSHA256(secret: secret)
    }

    /// What checks the service's answers: the shared secret, or the service's public key.
    public var answerKey: VerifyingKey? {
        if privateKey != nil { return servicePublicKey.flatMap(Signing.publicKey(hex:)).map { .ed25519(publicKey: $0) } }
        guard let secret = Hex.decode(deviceSecret), secret.count == 32 else { return nil }
        return .hmacSHA256(secret: secret)
    }

    /// Which scheme this terminal signs with now.
    public var scheme: SigningScheme { privateKey == nil ? .hmacSHA256 : .ed25519 }

    /// These credentials as they are once the service holds the pending key: the pending key signs and
    /// the shared secret, if any, is gone. Nil when no rotation is pending.
    public func withPendingKeyInForce(servicePublicKey: String? = nil) -> DeviceCredentials? {
        guard let pending = pendingPrivateKey else { return nil }
        var next = self
        next.privateKey = pending
        next.pendingPrivateKey = nil
        next.deviceSecret = ""
        if let servicePublicKey { next.servicePublicKey = servicePublicKey }
        return next
    }

    private enum CodingKeys: String, CodingKey {
        case deviceId, deviceSecret, store, privateKey, servicePublicKey, pendingPrivateKey
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deviceId = try c.decode(String.self, forKey: .deviceId)
        deviceSecret = try c.decodeIfPresent(String.self, forKey: .deviceSecret) ?? ""
        store = try c.decode(StoreInfo.self, forKey: .store)
        privateKey = try c.decodeIfPresent(String.self, forKey: .privateKey)
        servicePublicKey = try c.decodeIfPresent(String.self, forKey: .servicePublicKey)
        pendingPrivateKey = try c.decodeIfPresent(String.self, forKey: .pendingPrivateKey)
    }

    /// A terminal with a key pair writes no `device_secret` at all.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deviceId, forKey: .deviceId)
        if !deviceSecret.isEmpty { try c.encode(deviceSecret, forKey: .deviceSecret) }
        try c.encode(store, forKey: .store)
        try c.encodeIfPresent(privateKey, forKey: .privateKey)
        try c.encodeIfPresent(servicePublicKey, forKey: .servicePublicKey)
        try c.encodeIfPresent(pendingPrivateKey, forKey: .pendingPrivateKey)
    }
}

/// The answer to an activation: a key pair's (the service's public key) or, from a service that does not
/// know public keys yet, a shared secret.
public enum ActivationAnswer: Equatable, Sendable {
    case publicKey(KeyActivationResponse)
    case secret(ActivateResponse)
}

/// Why a call to the service got no usable answer.
public enum CallFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// No HTTP answer (see `TransportError` for whether the request may have arrived).
    case transport(TransportError)
    /// An answer came but its signature did not verify: treated as no answer.
    case unverified(String)
    /// The service answered with an error.
    case service(APIError)

    public var description: String {
        switch self {
        case .transport(let t): return "\(ErrorCode.serviceUnreachable.message) (\(t))"
        case .unverified(let why): return "\(ErrorCode.responseUnverified.message) (\(why))"
        case .service(let e): return e.description
        }
    }

    /// The catalogue code that best names this failure.
    public var code: ErrorCode {
        switch self {
        case .transport(.tlsUntrusted): return .tlsUntrusted
        case .transport: return .serviceUnreachable
        case .unverified: return .responseUnverified
        case .service(let e): return e.code
        }
    }

    /// True when the request may have reached the service (so its effect is unknown).
    public var mayHaveArrived: Bool {
        switch self {
        case .transport(.couldNotConnect), .transport(.tlsUntrusted), .transport(.timedOut(afterConnect: false)): return false
        case .service: return true
        default: return true
        }
    }

    /// True when another domain may answer where this one did not (transport failures).
    public var suggestsProbe: Bool {
        if case .transport(let t) = self, case .tlsUntrusted = t { return false }
        if case .transport = self { return true }
        return false
    }
}

/// One service domain reached over one kept-alive libcurl connection, with every request signed and
/// every answer's signature checked.
///
/// Calls block the calling thread (libcurl); callers use threads of their own. A lock serializes use
/// of the one connection.
public final class SignedTransport: @unchecked Sendable {
    // @unchecked: `connection` and `cachedKey` are only touched while `lock` is held.
    public let baseURL: String
    private let lock = NSLock()
    private let connection: CurlConnection
    /// The Ed25519 key last signed with, by its seed in hex (making it from the seed costs a curve multiplication).
    private var cachedKey: (seedHex: String, key: Ed25519.PrivateKey)?
    /// The time requests are signed with and answers are checked against.
    public let clock: ServiceClock

    /// Errors the service sends before it knows the device, so it cannot sign them. They can only stop the
    /// terminal, never make it believe money moved, so they are accepted unsigned.
    static let unsignedErrorCodes: Set<ErrorCode> = [
        .signatureMissing, .deviceUnknown, .deviceRevoked, .signatureInvalid, .timestampSkewed, .nonceReplayed,
        .notFound, .methodNotAllowed, .bodyTooLarge, .overloaded, .rateLimited, .baseUnavailable,
        .httpMalformed, .uriTooLong, .headersTooLarge, .httpVersionNotSupported,
    ]

    /// - Parameters:
    ///   - baseURL: e.g. `https://127.0.0.1:8443` (no trailing slash).
    ///   - clock: the terminal's clock as corrected by the service's answers; share one between the
    ///     transports of one terminal.
    public init(baseURL: String, http: HTTPClientConfiguration, clock: ServiceClock = ServiceClock()) throws {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.connection = try CurlConnection(configuration: http)
        self.clock = clock
    }

    /// A verified answer.
    public struct Answer: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// Round-trip time, milliseconds.
        public var latencyMs: Int64
    }

    /// Sends a signed request for `credentials`' device and verifies the answer.
    ///
    /// If the service refuses the request for its timestamp in a signed answer, the refusal proves the
    /// request was not acted on and its stamp gives the service's time: the clock is corrected and the
    /// request is signed again and sent once more.
    /// - Parameter timeoutMs: this call's total timeout; the transport's configured one when nil.
    /// - Parameter freshConnection: send on a connection of its own, never a kept-alive one, so libcurl
    ///   cannot silently send the request a second time (it does so only on a reused connection that died):
    ///   for a request that must never arrive twice, a two-call pay.
    public func call(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                     credentials: DeviceCredentials, timeoutMs: Int? = nil, freshConnection: Bool = false) -> Result<Answer, CallFailure> {
        let offsetBefore = clock.offsetMs
        let first = signedCall(method, path, query: query, body: body, credentials: credentials, timeoutMs: timeoutMs,
                               freshConnection: freshConnection)
        // Signed again only if the clock changed meanwhile (this answer or another taught it), so never in a loop.
        if case .failure(.service(let error)) = first, error.code == .timestampSkewed, clock.offsetMs != offsetBefore {
            return signedCall(method, path, query: query, body: body, credentials: credentials, timeoutMs: timeoutMs,
                              freshConnection: freshConnection)
        }
        return first
    }

    private func signedCall(_ method: String, _ path: String, query: [(String, String)], body: [UInt8],
                            credentials: DeviceCredentials, timeoutMs: Int?, freshConnection: Bool) -> Result<Answer, CallFailure> {
        // Signed anew on every call (and so on every retry) with the current time and a fresh nonce.
        guard let signingKey = signingKey(for: credentials), let answerKey = credentials.answerKey else {
            return .failure(.service(APIError(.configInvalid, detail: "the keystore holds no usable key for \(credentials.deviceId)")))
        }
        let nonce = Signing.makeNonce()
        let timestamp = clock.nowMs() / 1000
        let toSign = RequestToSign(method: method, path: path, query: query, timestamp: timestamp, nonce: nonce,
                                   deviceID: credentials.deviceId, body: body)
        let headers = [
            SignatureHeader.device: credentials.deviceId,
            SignatureHeader.timestamp: String(timestamp),
            SignatureHeader.nonce: nonce,
            SignatureHeader.signature: Signing.sign(toSign, with: signingKey),
            "Content-Type": "application/json",
        ]
        return exchange(method, path, query: query, body: body, headers: headers, timeoutMs: timeoutMs,
                        freshConnection: freshConnection) { response in
            self.verify(response, method: method, path: path, nonce: nonce, deviceID: credentials.deviceId, key: answerKey)
        }
    }

    /// The signing key of `credentials`, the Ed25519 one made once and reused while it stays the same.
    private func signingKey(for credentials: DeviceCredentials) -> SigningKey? {
        guard let seed = credentials.privateKey else { return credentials.signingKey }
        lock.lock()
        defer { lock.unlock() }
        if let cached = cachedKey, cached.seedHex == seed { return .ed25519(cached.key) }
        guard case .ed25519(let key)? = credentials.signingKey else { return nil }
        cachedKey = (seed, key)
        return .ed25519(key)
    }

    /// Redeems an activation code for a shared secret (as terminals from before public keys did); the
    /// answer is verified with the key derived from the code.
    public func activate(code: String, deviceName: String?) -> Result<ActivateResponse, CallFailure> {
        activate(code: code, deviceName: deviceName, publicKey: nil).flatMap { answer in
            guard case .secret(let value) = answer else { return .failure(.unverified("the activation answer is not the expected JSON")) }
            return .success(value)
        }
    }

    /// Redeems an activation code, sending `publicKey` (this terminal's Ed25519 key) if given; the answer
    /// is verified with the key derived from the code.
    public func activate(code: String, deviceName: String?, publicKey: [UInt8]?) -> Result<ActivationAnswer, CallFailure> {
        let nonce = Signing.makeNonce()
        let body = API.encode(ActivateRequest(code: code, deviceName: deviceName, publicKey: publicKey.map(Hex.encode)))
        let result = exchange("POST", API.Path.activate, query: [], body: body,
                              headers: [SignatureHeader.nonce: nonce, "Content-Type": "application/json"]) { response in
            // A new terminal has never heard the service's time; an answer signed for this request's nonce
            // is this service's own, so its stamp corrects the clock instead of being refused as stale.
            self.verify(response, method: "POST", path: API.Path.activate, nonce: nonce, deviceID: "",
                        key: .hmacSHA256(secret: Signing.activationKey(code: code)), staleAnswerCorrectsClock: true)
        }
        return result.flatMap { answer in
            // A service that does not know public keys ignores the field and answers with a secret.
            if publicKey != nil, let value = try? API.decode(KeyActivationResponse.self, from: answer.body) {
                return .success(.publicKey(value))
            }
            if let value = try? API.decode(ActivateResponse.self, from: answer.body) { return .success(.secret(value)) }
            return .failure(.unverified("the activation answer is not the expected JSON"))
        }
    }

    /// An unsigned GET (health), for probing before activation.
    public func health() -> Result<Answer, CallFailure> {
        exchange("GET", API.Path.health, query: [], body: [], headers: [:]) { response in
            guard response.status == 200 else { return .failure(.service(APIError(.internalError, detail: "health answered \(response.status)"))) }
            return .success(Answer(status: 200, body: response.body, latencyMs: Int64(response.totalTime * 1000)))
        }
    }

    private func exchange(_ method: String, _ path: String, query: [(String, String)], body: [UInt8], headers: [String: String],
                          timeoutMs: Int? = nil, freshConnection: Bool = false,
                          verify: (HTTPClientResponse) -> Result<Answer, CallFailure>) -> Result<Answer, CallFailure> {
        var url = baseURL + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Signing.percentEncode($0.0))=\(Signing.percentEncode($0.1))" }.joined(separator: "&")
        }
        lock.lock()
        let result = connection.perform(method: method, url: url, headers: headers, body: method == "GET" ? nil : body,
                                        timeoutMs: timeoutMs, freshConnection: freshConnection)
        lock.unlock()
        switch result {
        case .failure(let t): return .failure(.transport(t))
        case .success(let response): return verify(response)
        }
    }

    /// Checks an answer's signature (bound to this request's nonce) and its timestamp.
    /// - Parameter staleAnswerCorrectsClock: a signed answer whose stamp is too far from the clock corrects
    ///   the clock and is accepted (activation), instead of being refused as unverified.
    private func verify(_ response: HTTPClientResponse, method: String, path: String, nonce: String, deviceID: String,
                        key: VerifyingKey, staleAnswerCorrectsClock: Bool = false) -> Result<Answer, CallFailure> {
        let latency = Int64(response.totalTime * 1000)
        // Only a failed answer carries an error envelope; decoding every answer as one cost a fifth of a sale's client CPU.
        let isSuccess = (200..<300).contains(response.status)
        let apiError = isSuccess ? nil : (try? API.decode(ErrorEnvelope.self, from: response.body))?.error
        guard let signature = response.headers[SignatureHeader.signature.lowercased()],
              let tsText = response.headers[SignatureHeader.timestamp.lowercased()], let ts = Int64(tsText) else {
            if let apiError, Self.unsignedErrorCodes.contains(apiError.code) {
                return .failure(.service(apiError))
            }
            return .failure(.unverified("the answer (HTTP \(response.status)) carries no signature"))
        }
        let toVerify = ResponseToSign(status: response.status, requestMethod: method, requestPath: path, requestNonce: nonce,
                                      timestamp: ts, deviceID: deviceID, body: response.body)
        guard Signing.verify(toVerify, signature: signature, with: key) else {
            return .failure(.unverified("the answer's signature does not match this request"))
        }
        if let apiError, apiError.code == .timestampSkewed {
            // Signed: the service really refused this request for its timestamp, and stamped the refusal
            // with its own time.
            clock.learn(serviceSeconds: ts)
            return .failure(.service(apiError))
        }
        if !Signing.isFresh(timestamp: ts, now: clock.nowMs() / 1000) {
            guard staleAnswerCorrectsClock else {
                return .failure(.unverified("the answer's timestamp is too far from this terminal's clock"))
            }
            clock.learn(serviceSeconds: ts)
        }
        if isSuccess {
            return .success(Answer(status: response.status, body: response.body, latencyMs: latency))
        }
        return .failure(.service(apiError ?? APIError(.internalError, detail: "HTTP \(response.status)")))
    }
}

extension Result where Failure == CallFailure, Success == SignedTransport.Answer {
    /// Decodes a verified answer's JSON body.
    public func decoded<T: Decodable>(_ type: T.Type) -> Result<T, CallFailure> {
        flatMap { answer in
            do { return .success(try API.decode(type, from: answer.body)) } catch {
                return .failure(.unverified("the answer is not the expected JSON"))
            }
        }
    }
}
