import JSON
import Testing

@Suite struct JSONTests {
    @Test func parsesAndKeepsMemberOrder() throws {
        let value = try JSONValue.parse(#"{"b":1,"a":[true,false,null],"c":{"x":"y"}}"#)
        #expect(value.objectValue?.keys == ["b", "a", "c"])
        #expect(value["a"] == [true, false, nil])
        #expect(value["c"]?["x"]?.stringValue == "y")
        #expect(value.serialized() == #"{"b":1,"a":[true,false,null],"c":{"x":"y"}}"#)
    }

    @Test func keepsNumberLiterals() throws {
        let value = try JSONValue.parse("[0, -1, 1.5, 2e3, 12345678901234567890]")
        #expect(value.serialized() == "[0,-1,1.5,2e3,12345678901234567890]")
        #expect(value.arrayValue?[0].intValue == 0)
        #expect(value.arrayValue?[2].intValue == nil)
        #expect(value.arrayValue?[3].intValue == 2000)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONValue.parse(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#)
        #expect(value.stringValue == "a\"b\\c/d\né😀")
        #expect(JSONValue.string("a\"\u{1}\n").serialized() == #""a\"\u0001\n""#)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "\"\u{1}\"",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(text) }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        #expect((try? JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))) != nil)
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xff, 0xfe, 0x22]) }
    }

    @Test func prettyPrintsWithIndent() {
        let value: JSONValue = ["a": [1, 2], "b": [:]]
        #expect(value.serialized(indent: 2) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}")
    }

    @Test func lastDuplicateKeyWins() throws {
        let value = try JSONValue.parse(#"{"a":1,"a":2}"#)
        #expect(value["a"]?.intValue == 2)
        #expect(value.objectValue?.members.count == 1)
    }
}
