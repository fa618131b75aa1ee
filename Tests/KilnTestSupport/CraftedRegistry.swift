public import Foundation

/// A program run to completion, its output captured (git, openssl, curl in tests).
public struct ProgramRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    @discardableResult
    public static func run(
        _ program: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
        directory: String? = nil
    ) throws -> ProgramRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let (o, e) = PipeReader.readBoth(out.fileHandleForReading, err.fileHandleForReading)
        process.waitUntilExit()
        return ProgramRun(
            status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }
}

/// A hostile registry, made with git's own plumbing (`hash-object --literally` writes trees that libgit2
/// and `git mktree` would refuse to build): what a `kiln pull` from someone else's remote may bring.
public enum CraftedRegistry {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// One tree entry: git mode (`40000`, `100644`, `120000`), name (anything), object id.
    public struct Entry: Sendable {
        public var mode: String
        public var name: String
        public var id: String
        public init(mode: String, name: String, id: String) {
            self.mode = mode
            self.name = name
            self.id = id
        }
    }

    static func git(_ repository: String, _ arguments: [String], stdin: Data? = nil) throws -> String {
        let r = try ProgramRun.run(
            "git", ["--git-dir", repository] + arguments, stdin: stdin,
            environment: [
                "GIT_AUTHOR_NAME": "mallory", "GIT_AUTHOR_EMAIL": "m@example.com", "GIT_COMMITTER_NAME": "mallory",
                "GIT_COMMITTER_EMAIL": "m@example.com",
            ])
        guard r.status == 0 else { throw Failure(description: "git \(arguments.joined(separator: " ")): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a blob; returns its id.
    public static func blob(_ repository: String, _ data: Data) throws -> String {
        try git(repository, ["hash-object", "-w", "--stdin"], stdin: data)
    }

    /// Writes a tree of exactly these entries, unchecked and in the order given.
    public static func tree(_ repository: String, _ entries: [Entry]) throws -> String {
        var bytes = Data()
        for e in entries {
            bytes.append(Data("\(e.mode) \(e.name)".utf8))
            bytes.append(0)
            var hex = Substring(e.id)
            while hex.count >= 2 {
                guard let byte = UInt8(hex.prefix(2), radix: 16) else { throw Failure(description: "bad id \(e.id)") }
                bytes.append(byte)
                hex = hex.dropFirst(2)
            }
        }
        return try git(repository, ["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], stdin: bytes)
    }

    /// The entries of a tree as git lists them.
    public static func entries(_ repository: String, _ tree: String) throws -> [Entry] {
        try git(repository, ["ls-tree", tree]).split(separator: "\n").map { line in
            let tab = line.split(separator: "\t", maxSplits: 1)
            let fields = tab[0].split(separator: " ")
            return Entry(mode: String(fields[0]), name: String(tab[1]), id: String(fields[2]))
        }
    }

    /// Adds version N+1 of `model` on top of its latest version: the latest's tree with `extra` entries
    /// placed first (names like `..` sort first in git's order), a kiln.json saying it is N+1, and kiln's
    /// trailers. Returns the new commit's id.
    @discardableResult
    public static func addVersion(
        _ repository: String, model: String, extra: [Entry] = [], replacing: [String: Entry] = [:],
        message: String = "crafted", number numberOverride: Int? = nil
    ) throws -> String {
        let tip = try git(repository, ["rev-parse", "refs/kiln/models/\(model)"])
        let tipMessage = try git(repository, ["log", "-1", "--format=%B", tip])
        guard let line = tipMessage.split(separator: "\n").last(where: { $0.hasPrefix("Kiln-Version: ") }),
            let number = Int(line.dropFirst("Kiln-Version: ".count))
        else { throw Failure(description: "\(tip) is not a kiln version") }
        let next = numberOverride ?? number + 1
        let index = try blob(
            repository, Data(#"{"kiln":"0","model":"\#(model)","source":"training/x","version":\#(next)}"#.utf8))
        var entries = try self.entries(repository, tip + "^{tree}").filter { $0.name != "kiln.json" }
            .map { replacing[$0.name] ?? $0 }
        entries.append(Entry(mode: "100644", name: "kiln.json", id: index))
        entries.sort { $0.name < $1.name }
        let tree = try self.tree(repository, extra + entries)
        let commit = try git(
            repository,
            [
                "commit-tree", tree, "-p", tip, "-m",
                "\(message)\n\nKiln-Model: \(model)\nKiln-Version: \(next)\nKiln-Source: training/x",
            ])
        _ = try git(repository, ["update-ref", "refs/kiln/models/\(model)", commit])
        return commit
    }

    /// The text of a file in the latest version of `model` (`weights/manifest.json`).
    public static func file(_ repository: String, model: String, _ path: String) throws -> String {
        try git(repository, ["show", "refs/kiln/models/\(model):\(path)"])
    }

    /// A subtree holding one file, `name` with `text`: the payload a `..` entry carries out of a checkout.
    public static func payload(_ repository: String, name: String, text: String) throws -> String {
        try tree(repository, [Entry(mode: "100644", name: name, id: try blob(repository, Data(text.utf8)))])
    }
}
