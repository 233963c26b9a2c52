import CashierCore
import CashierCrypto
import CashierStorage
import HTTPServer

extension CashierService {
    /// `POST /v1/activate`: redeems a one-time activation code for a device id and key.
    ///
    /// Unsigned (the terminal has no key yet); the answer is signed with a key derived from the code.
    /// Failed attempts are counted per client address, so codes cannot be guessed at speed.
    /// With a `public_key` the device is stored with that key alone and told the service's public key;
    /// without one (a terminal from before public keys) it gets a shared secret, as it always did.
    /// - Parameter code: set to the submitted code once the body is read (the caller signs the answer with it).
    func activate(_ request: HTTPRequest, now: Int64, code: inout String?) throws -> Reply {
        guard let nonce = request.header(SignatureHeader.nonce), Signing.isValidNonce(nonce) else {
            throw Refusal(.signatureMissing, "activation needs an \(SignatureHeader.nonce) header")
        }
        let body = try decode(ActivateRequest.self, request)
        code = body.code
        let limiterKey = "activate:\(request.remoteAddress)"
        let windowStart = now - 10 * 60 * 1000
        guard try base.attempts(key: limiterKey, windowStart: windowStart) < configuration.limits.activationAttempts else {
            throw Refusal(.rateLimited)
        }
        func failed(_ code: ErrorCode) throws -> Refusal {
            _ = try base.countAttempt(key: limiterKey, now: now, windowStart: windowStart)
            return Refusal(code)
        }
        guard ActivationCode.isWellFormed(body.code) else { throw try failed(.activationCodeInvalid) }
        if let name = body.deviceName, let problem = TextField.problem(name, field: "device_name", minCodePoints: 0, maxCodePoints: 64) {
            throw Refusal(.invalidField, problem)
        }
        let key: VerifyingKey
        var serviceKey: Ed25519.PrivateKey?
        if let text = body.publicKey {
            guard let publicKey = Signing.publicKey(hex: text) else {
                throw Refusal(.invalidField, "public_key is an Ed25519 public key: 64 lower-case hex digits")
            }
            key = .ed25519(publicKey: publicKey)
            // Read (or made) before the code is spent, so a code is never used up for an answer that fails.
            serviceKey = try Authenticator.serviceSigningKey(base, nowMs: now)
        } else {
            key = .hmacSHA256(secret: Crypto.randomBytes(32))
        }

        let deviceID = "D" + Hex.encode(Crypto.randomBytes(6)).uppercased()
        let outcome = try base.redeemActivationCode(ActivationCode.normalize(body.code), now: now) { storeID in
            DeviceRecord(id: deviceID, storeID: storeID, name: body.deviceName ?? "terminal", key: key, activatedAt: now)
        }
        switch outcome {
        case .unknownCode: throw try failed(.activationCodeInvalid)
        case .alreadyUsed: throw try failed(.activationCodeUsed)
        case .expired: throw try failed(.activationCodeExpired)
        case .activated(let device):
            guard let store = try base.store(id: device.storeID) else { throw Refusal(.internalError, "store missing") }
            switch (device.key, serviceKey) {
            case (.ed25519, let serviceKey?):
                return .json(KeyActivationResponse(deviceId: device.id, servicePublicKey: Hex.encode(serviceKey.publicKey),
                                                   store: storeInfo(store)))
            case (.hmacSHA256(let secret), _):
                return .json(ActivateResponse(deviceId: device.id, deviceSecret: Hex.encode(secret), store: storeInfo(store)))
            default:
                throw Refusal(.internalError, "device key")
            }
        }
    }

    /// `POST /v1/device/rotate-key`, signed with the device's current key: from now on the device signs
    /// with the Ed25519 key in the body, and nothing else of its (an HMAC secret included) is kept.
    ///
    /// The store's compare-and-set makes the change only if the key that signed this request is still
    /// the device's, so of two rotations signed with one key only one takes effect and a request signed
    /// with the old key is refused from the moment the answer is made. The answer is signed with the old
    /// key (`auth.responseKey`) and names the service's public key, which signs every later answer.
    func rotateKey(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(RotateKeyRequest.self, request)
        guard let publicKey = Signing.publicKey(hex: body.publicKey) else {
            throw Refusal(.invalidField, "public_key is an Ed25519 public key: 64 lower-case hex digits")
        }
        let new = VerifyingKey.ed25519(publicKey: publicKey)
        guard new != auth.device.key else { throw Refusal(.invalidField, "public_key is the device's key already") }
        let serviceKey = try Authenticator.serviceSigningKey(base, nowMs: now)
        guard try base.replaceDeviceKey(id: auth.device.id, current: auth.device.key, new: new) else {
            // Rotated (or revoked) since this request's signature was checked: the key that signed it is spent.
            throw Refusal(.signatureInvalid, "the key that signed this request is no longer the device's")
        }
        return .json(RotateKeyResponse(deviceId: auth.device.id, servicePublicKey: Hex.encode(serviceKey.publicKey)))
    }
}
