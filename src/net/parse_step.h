// The outcome of an incremental parse over a buffer that may hold only part of a message (bytes
// read so far from a socket): either "need more bytes", or the message and how many bytes of the
// buffer it took. Errors travel beside it in Result, so a parser has exactly three answers.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>

#include "core/error.h"

namespace ipsx::net {

template <class T>
struct ParseStep {
  std::optional<T> message;  // set once the buffer holds a whole message
  size_t consumed = 0;       // bytes of the buffer's front the message took; 0 while incomplete
  size_t need = 0;           // while incomplete: at least this many more bytes (>= 1) are needed

  bool complete() const { return message.has_value(); }

  // The buffer is a valid prefix; retry once it holds at least `more` more bytes.
  static ParseStep more(size_t more) { return ParseStep{std::nullopt, 0, more}; }
  // The first `consumed` bytes of the buffer are `message`; any rest belongs to what follows.
  static ParseStep done(T message, size_t consumed) {
    return ParseStep{std::move(message), consumed, 0};
  }
};

// A parser's answer: an error (the buffer can never become valid), or a ParseStep.
template <class T>
using ParseResult = Result<ParseStep<T>>;

}  // namespace ipsx::net
