import ArgumentParser
import Foundation
import KilnCompiler
import KilnRuntime

func paint(_ text: String, _ code: Int, _ colour: Bool) -> String {
    colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
}
