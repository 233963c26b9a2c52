import Foundation

/// A value shared between a test's threads.
public final class LockedBox<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `stored` is only touched while `lock` is held.
    private let lock = NSLock()
    private var stored: Value?

    public init() {}

    public var value: Value? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }

    /// Changes the value in place, atomically.
    public func mutate(_ change: (inout Value?) -> Void) {
        lock.lock(); defer { lock.unlock() }
        change(&stored)
    }
}
