import Foundation
import KilnDiagnostics

/// A path below a directory, as kiln builds it from data it did not write itself: tree entries of a
/// pulled registry, paths listed in manifests and signatures. It cannot hold `..`, `.` or empty
/// components, an absolute path, NUL or control characters, or a separator inside a component, so joining
/// it to a directory never leaves that directory. Everything written from such data goes through this
/// type (and `ConfinedDirectory`, which also refuses to follow symlinks already in the target).
public struct RelativePath: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The components, each one valid by `isValidComponent`; never empty.
    public let components: [String]

    /// What is wrong with a path, for messages that name it (escaped: it may hold anything).
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "'\(Escaped(path))' is not a safe relative path: \(reason)" }
    }

    /// Longest component and whole path kiln accepts (Linux's NAME_MAX and PATH_MAX).
    public static let maxComponentBytes = 255
    public static let maxBytes = 4096

    /// `text` split on `/`, every component checked.
    public init(_ text: String) throws(Invalid) {
        guard !text.isEmpty else { throw Invalid(path: text, reason: "it is empty") }
        guard !text.hasPrefix("/") else { throw Invalid(path: text, reason: "it is absolute") }
        guard text.utf8.count <= Self.maxBytes else {
            throw Invalid(path: text, reason: "it is longer than \(Self.maxBytes) bytes")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in parts {
            if let reason = Self.problem(part) { throw Invalid(path: text, reason: reason) }
        }
        components = parts
    }

    /// One component (a tree entry's name): `/` inside it is refused like everything else.
    public init(component name: String) throws(Invalid) {
        if let reason = Self.problem(name) { throw Invalid(path: name, reason: reason) }
        components = [name]
    }

    /// A path kiln names itself (`model.safetensors`): not from outside, so not checked.
    init(checked components: [String]) { self.components = components }

    /// This path with one more component below it.
    public func appending(_ name: String) throws(Invalid) -> RelativePath {
        if let reason = Self.problem(name) { throw Invalid(path: string + "/" + name, reason: reason) }
        return RelativePath(checked: components + [name])
    }

    public var string: String { components.joined(separator: "/") }
    public var description: String { string }
    public var name: String { components[components.count - 1] }

    public static func < (a: RelativePath, b: RelativePath) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    public static func isValidComponent(_ name: String) -> Bool { problem(name) == nil }

    /// Why `name` cannot be one component, nil when it can.
    static func problem(_ name: String) -> String? {
        if name.isEmpty { return "it has an empty component" }
        if name == "." || name == ".." { return "it has a '\(name)' component" }
        if name.utf8.count > maxComponentBytes { return "a component is longer than \(maxComponentBytes) bytes" }
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"): return "a component holds a path separator"
            case 0: return "it holds a NUL byte"
            case 1..<32, 127: return "it holds a control character"
            default: continue
            }
        }
        // C1 controls, bidirectional overrides, and U+FFFD: a name that was not UTF-8 would be written
        // under another name than the tree's.
        if Escaped.firstControl(in: name) != nil { return "it holds a control, formatting or non-UTF-8 character" }
        // Invisible characters (zero-width joiners, soft hyphens, BOM, tags, variation selectors): names that
        // look alike but are not, and that some file systems fold (`.g\u{200c}it` is `.git` on HFS+).
        if name.unicodeScalars.contains(where: {
            $0.properties.generalCategory == .format || $0.properties.isVariationSelector
                || $0.properties.isDefaultIgnorableCodePoint
        }) {
            return "it holds an invisible character"
        }
        if name.lowercased().hasPrefix("git~") { return "it is a short name of .git" }
        return nil
    }
}
