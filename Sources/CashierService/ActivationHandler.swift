import CashierCore
import CashierCrypto
import CashierStorage
import HTTPServer

extension CashierService {
    /// `POST /v1/activate`: redeems a one-time activation code for a device id and key.
    ///
    /// Unsigned (the terminal has no key yet); the answer is signed with a key derived from the code.
    /// Failed attempts are counted per client address, so codes cannot be guessed at speed.
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

        let secret = Crypto.randomBytes(32)
        let deviceID = "D" + Hex.encode(Crypto.randomBytes(6)).uppercased()
        let outcome = try base.redeemActivationCode(ActivationCode.normalize(body.code), now: now) { storeID in
            DeviceRecord(id: deviceID, storeID: storeID, name: body.deviceName ?? "terminal", secret: secret, activatedAt: now)
        }
        switch outcome {
        case .unknownCode: throw try failed(.activationCodeInvalid)
        case .alreadyUsed: throw try failed(.activationCodeUsed)
        case .expired: throw try failed(.activationCodeExpired)
        case .activated(let device):
            guard let store = try base.store(id: device.storeID) else { throw Refusal(.internalError, "store missing") }
            return .json(ActivateResponse(deviceId: device.id, deviceSecret: Hex.encode(device.secret), store: storeInfo(store)))
        }
    }
}
