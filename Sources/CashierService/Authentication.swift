import CashierCore
import CashierStorage
import HTTPServer

/// A request whose signature, freshness and nonce have been checked.
struct AuthenticatedDevice {
    var device: DeviceRecord
    var store: StoreRecord
    var nonce: String
}

/// Checks a signed request: headers present, device known and not revoked, timestamp fresh,
/// signature valid, nonce never seen. The order matters: the nonce is recorded only after the
/// signature is good, so a forger cannot burn a terminal's nonces.
struct Authenticator {
    var base: BaseStore
    var skewSeconds: Int64

    func authenticate(_ request: HTTPRequest, nowMs: Int64) throws(Refusal) -> AuthenticatedDevice {
        guard let deviceID = request.header(SignatureHeader.device),
              let timestampText = request.header(SignatureHeader.timestamp),
              let nonce = request.header(SignatureHeader.nonce),
              let signature = request.header(SignatureHeader.signature) else {
            throw Refusal(.signatureMissing, "send \(SignatureHeader.device), \(SignatureHeader.timestamp), \(SignatureHeader.nonce) and \(SignatureHeader.signature)")
        }
        guard Signing.isValidDeviceID(deviceID) else { throw Refusal(.deviceUnknown) }
        let device: DeviceRecord
        let store: StoreRecord
        do {
            guard let d = try base.device(id: deviceID) else { throw Refusal(.deviceUnknown) }
            guard let s = try base.store(id: d.storeID) else { throw Refusal(.deviceUnknown, "the device's store no longer exists") }
            device = d
            store = s
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(.internalError, "base data unavailable")
        }
        if device.revokedAt != nil { throw Refusal(.deviceRevoked) }
        guard let timestamp = Int64(timestampText),
              Signing.isFresh(timestamp: timestamp, now: nowMs / 1000, skew: skewSeconds) else {
            throw Refusal(.timestampSkewed, "service time is \(nowMs / 1000)")
        }
        guard Signing.isValidNonce(nonce) else {
            throw Refusal(.signatureInvalid, "the nonce must be 16 to 64 characters of A-Z a-z 0-9 _ -")
        }
        let toSign = RequestToSign(method: request.method, path: request.path, query: request.query,
                                   timestamp: timestamp, nonce: nonce, deviceID: deviceID, body: request.body)
        guard Signing.verify(toSign, signature: signature, key: device.secret) else {
            throw Refusal(.signatureInvalid)
        }
        do {
            // Kept for twice the skew window: a request older than that is refused for its timestamp.
            let fresh = try base.recordNonce(deviceID: deviceID, nonce: nonce, expiresAt: nowMs + 2 * skewSeconds * 1000)
            guard fresh else { throw Refusal(.nonceReplayed) }
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(.internalError, "base data unavailable")
        }
        return AuthenticatedDevice(device: device, store: store, nonce: nonce)
    }
}
