import CashierCore
import CashierCrypto
import CashierStorage
import HTTPServer

/// A request whose signature and freshness have been checked, and its nonce unless the handler keeps it.
struct AuthenticatedDevice {
    var device: DeviceRecord
    var store: StoreRecord
    var nonce: String
    /// Until when the nonce must be kept: a request older than that is refused for its timestamp.
    var nonceExpiresAt: Int64
    /// The device was read from the device cache: the base data could not be read for this request.
    var fromCache = false
    /// What signs the answer: the device's own secret for an HMAC device, the service's Ed25519 key for a
    /// device with a public key. Chosen by the key stored for the device, like the request's scheme.
    var responseKey: SigningKey

    /// The nonce as a handler that keeps it in an order's group records it.
    var nonceRecord: NonceRecord {
        NonceRecord(deviceID: device.id, nonce: nonce, expiresAt: nonceExpiresAt)
    }
}

/// Checks a signed request: headers present, device known and not revoked, signature valid, timestamp
/// fresh, nonce never seen. The order matters: the nonce is recorded only after the signature is good,
/// so a forger cannot burn a terminal's nonces; and a stale timestamp is only told once the signature
/// is good, so that refusal can be signed: the terminal learns the service's time from it and corrects
/// its clock (`ClockCorrection`).
struct Authenticator {
    var base: BaseStore
    var skewSeconds: Int64
    /// Devices as last read, for when the base data cannot be read (`DeviceCache`); nil: none.
    var cache: DeviceCache? = nil

    /// - Parameter recordNonce: false for a route whose handler records the nonce in the order's group
    ///   itself, in the same transaction as its first write (`Route.keepsNonceInOrderGroup`).
    func authenticate(_ request: HTTPRequest, nowMs: Int64, recordNonce: Bool = true) throws(Refusal) -> AuthenticatedDevice {
        guard let deviceID = request.header(SignatureHeader.device),
              let timestampText = request.header(SignatureHeader.timestamp),
              let nonce = request.header(SignatureHeader.nonce),
              let signature = request.header(SignatureHeader.signature) else {
            throw Refusal(.signatureMissing, "send \(SignatureHeader.device), \(SignatureHeader.timestamp), \(SignatureHeader.nonce) and \(SignatureHeader.signature)")
        }
        guard Signing.isValidDeviceID(deviceID) else { throw Refusal(.deviceUnknown) }
        let device: DeviceRecord
        let store: StoreRecord
        var fromCache = false
        do {
            guard let d = try base.device(id: deviceID) else { cache?.forget(deviceID); throw Refusal(.deviceUnknown) }
            guard let s = try base.store(id: d.storeID) else {
                cache?.forget(deviceID)
                throw Refusal(.deviceUnknown, "the device's store no longer exists")
            }
            device = d
            store = s
            cache?.remember(d, store: s, now: nowMs)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            // The base data cannot be reached: a device read from it a moment ago is taken as it was then
            // (revoked or not), within `base.device_cache_seconds`. Not for data that reads wrong (a corrupt row).
            var unreachable = false
            if case StorageError.unavailable = error { unreachable = true }
            guard unreachable, let cached = cache?.lookup(deviceID, now: nowMs) else {
                // Without the device's key the refusal cannot be signed; it did nothing, so it is safe to retry.
                throw Refusal(.baseUnavailable, "the device could not be read")
            }
            (device, store) = cached
            fromCache = true
        }
        if device.revokedAt != nil { throw Refusal(.deviceRevoked) }
        // Only the one decimal form: the canonical request's timestamp line is then the header as sent.
        guard let timestamp = Signing.parseTimestamp(timestampText) else {
            throw Refusal(.timestampSkewed, "the timestamp must be Unix seconds in decimal digits; service time is \(nowMs / 1000)")
        }
        guard Signing.isValidNonce(nonce) else {
            throw Refusal(.signatureInvalid, "the nonce must be 16 to 64 characters of A-Z a-z 0-9 _ -")
        }
        // The path exactly as sent (docs/PROTOCOL.md): a percent-encoded variant of the signed path is not it.
        let toSign = RequestToSign(method: request.method, path: request.rawPath, query: request.query,
                                   timestamp: timestamp, nonce: nonce, deviceID: deviceID, body: request.body)
        // The scheme is the stored key's: a request cannot choose HMAC for a device that has a public key.
        guard Signing.verify(toSign, signature: signature, with: device.key) else {
            throw Refusal(.signatureInvalid)
        }
        // Before anything is done, so an answer that cannot be signed never follows a change.
        let responseKey = try Self.responseKey(for: device, base: base, nowMs: nowMs)
        // Kept for twice the skew window: a request older than that is refused for its timestamp.
        let authenticated = AuthenticatedDevice(device: device, store: store, nonce: nonce, nonceExpiresAt: nowMs + 2 * skewSeconds * 1000,
                                                fromCache: fromCache, responseKey: responseKey)
        guard Signing.isFresh(timestamp: timestamp, now: nowMs / 1000, skew: skewSeconds) else {
            // The device signed this request: answer it signed, stamped with the service's time.
            throw Refusal(.timestampSkewed, "service time is \(nowMs / 1000)", signedFor: authenticated)
        }
        guard recordNonce else { return authenticated }
        do {
            let fresh = try base.recordNonce(deviceID: deviceID, nonce: nonce, expiresAt: authenticated.nonceExpiresAt)
            guard fresh else { throw Refusal(.nonceReplayed) }
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            // The signature was good, so the refusal is signed: the terminal must not read a storage failure
            // as a forged answer. Nothing was recorded; the request may be sent again.
            throw Refusal(.baseUnavailable, "the request's nonce could not be recorded", signedFor: authenticated)
        }
        return authenticated
    }

    /// The key that signs answers to `device`: its secret (HMAC), or the service's Ed25519 key.
    static func responseKey(for device: DeviceRecord, base: BaseStore, nowMs: Int64) throws(Refusal) -> SigningKey {
        switch device.key {
        case .hmacSHA256(let secret): return .hmacSHA256(secret: secret)
        case .ed25519: return .ed25519(try serviceSigningKey(base, nowMs: nowMs))
        }
    }

    /// The service's Ed25519 key (made on first use and kept in the base data; docs/SECURITY.md).
    static func serviceSigningKey(_ base: BaseStore, nowMs: Int64) throws(Refusal) -> Ed25519.PrivateKey {
        do { return try base.serviceSigningKey(make: { Ed25519.PrivateKey.generate() }, now: nowMs) } catch {
            throw Refusal(.internalError, "base data unavailable")
        }
    }
}

extension CashierService {
    /// The service's public key in hex, for a ping's answer; nil if the base data cannot be read just now
    /// (a ping does not fail for it).
    func servicePublicKey(for auth: AuthenticatedDevice, now: Int64) -> String? {
        if case .ed25519(let key) = auth.responseKey { return Hex.encode(key.publicKey) }
        return (try? Authenticator.serviceSigningKey(base, nowMs: now)).map { Hex.encode($0.publicKey) }
    }

    /// Deletes expired nonces from the base database and from every order group (pay keeps its nonces
    /// there); returns how many went. A group that cannot be reached now is simply tried next time.
    @discardableResult
    public func pruneExpiredNonces(now: Int64) -> Int {
        var deleted = (try? base.pruneNonces(now: now)) ?? 0
        for tag in hopping.groupTags {
            deleted += (try? hopping.withGroup(tag) { try $0.pruneNonces(now: now) }) ?? 0
        }
        return deleted
    }
}
