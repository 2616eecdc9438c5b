//! [`text_enum!`](crate::text_enum!): an enum each of whose values has one fixed text —
//! the word stored in a column, written in JSON, given as a metric label — declared with
//! its texts once, instead of an enum, a `match` to text and a parser kept in step by hand.
//!
//! ```
//! hookrelay_shared::text_enum! {
//!     /// A traffic light's colour.
//!     #[derive(Hash)]
//!     pub enum Colour {
//!         Red = "red",
//!         /// Between the two.
//!         Amber = "amber",
//!         Green = "green",
//!     }
//!     impl Display, TryFrom<String>;
//! }
//!
//! assert_eq!(Colour::Amber.as_str(), "amber");
//! assert_eq!(Colour::parse("green"), Some(Colour::Green));
//! assert_eq!(Colour::ALL, [Colour::Red, Colour::Amber, Colour::Green]);
//! assert_eq!(Colour::Red.to_string(), "red");
//! assert!(Colour::try_from("blue".to_owned()).is_err());
//! ```
//!
//! The enum derives `Debug, Clone, Copy, PartialEq, Eq`; its docs, further derives
//! (`Hash`, `utoipa::ToSchema`) and variant docs are written on it as on any enum. It gets:
//! - `ALL`: every value, in declaration order;
//! - `as_str`, a `const fn`, and `parse`: the value of a text, `None` for any other text;
//! - a compile-time check that no two values share a text, so `parse(v.as_str())` is
//!   always `Some(v)` ([`assert_texts_round_trip!`](crate::assert_texts_round_trip) says
//!   so in a crate's tests).
//!
//! Each enum keeps exactly the traits it needs, listed after it as `impl …;`:
//! - `Serialize`: serde writes each value as its text (one `#[serde(rename = …)]` per
//!   variant, which `utoipa::ToSchema` reads too, so the schema lists the same texts); the
//!   crate that declares the enum needs `serde`.
//! - `TryFrom<String>`: for diesel's `#[diesel(deserialize_as = String)]`; the error names
//!   the enum and the text.
//! - `Display`: the text.
//!
//! Methods of its own (`is_finished`) go in a separate `impl` block after the macro.
//!
//! Two values with one text do not compile:
//!
//! ```compile_fail
//! hookrelay_shared::text_enum! {
//!     enum Twice { First = "same", Second = "same" }
//! }
//! ```

/// Declares an enum whose values each have one text; see [the module](mod@crate::text_enum).
#[macro_export]
macro_rules! text_enum {
    // The options after the enum, sorted into `Serialize` (which changes the declaration)
    // and the impls that are only added beside it.
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*]
        rest: [Serialize $($rest:tt)*]) => {
        $crate::text_enum!(@options $enum serde: [serialize] impls: [$($impl)*] rest: [$($rest)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*]
        rest: [TryFrom<String> $($rest:tt)*]) => {
        $crate::text_enum!(@options $enum serde: [$($serde)?] impls: [$($impl)* try_from]
            rest: [$($rest)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*]
        rest: [Display $($rest:tt)*]) => {
        $crate::text_enum!(@options $enum serde: [$($serde)?] impls: [$($impl)* display]
            rest: [$($rest)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*]
        rest: [, $($rest:tt)*]) => {
        $crate::text_enum!(@options $enum serde: [$($serde)?] impls: [$($impl)*] rest: [$($rest)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*] rest: [;]) => {
        $crate::text_enum!(@declare $enum serde: [$($serde)?] impls: [$($impl)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*] rest: []) => {
        $crate::text_enum!(@declare $enum serde: [$($serde)?] impls: [$($impl)*]);
    };
    (@options $enum:tt serde: [$($serde:ident)?] impls: [$($impl:ident)*]
        rest: [$other:tt $($rest:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "text_enum!: `impl` takes Serialize, TryFrom<String> and Display, not `",
            ::core::stringify!($other),
            "`"
        ));
    };

    (@declare
        {
            $(#[$meta:meta])*
            $vis:vis enum $name:ident { $( $(#[$variant_meta:meta])* $variant:ident = $text:tt ),+ }
        }
        serde: [serialize]
        impls: [$($impl:ident)*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        $vis enum $name { $( $(#[$variant_meta])* #[serde(rename = $text)] $variant ),+ }

        $crate::text_enum!(@texts $name { $($variant = $text),+ } impls: [$($impl)*]);
    };
    (@declare
        {
            $(#[$meta:meta])*
            $vis:vis enum $name:ident { $( $(#[$variant_meta:meta])* $variant:ident = $text:tt ),+ }
        }
        serde: []
        impls: [$($impl:ident)*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $( $(#[$variant_meta])* $variant ),+ }

        $crate::text_enum!(@texts $name { $($variant = $text),+ } impls: [$($impl)*]);
    };

    (@texts $name:ident { $($variant:ident = $text:tt),+ } impls: [$($impl:ident)*]) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [Self; [$($text),+].len()] = [$(Self::$variant),+];

            /// Its text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The value whose text is `text`.
            pub fn parse(text: &str) -> ::core::option::Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == text)
            }
        }

        const _: () = ::core::assert!(
            $crate::text_enum::distinct(&[$($text),+]),
            ::core::concat!("text_enum!: two values of ", ::core::stringify!($name), " share a text")
        );

        $($crate::text_enum!(@impl $impl $name);)*
    };

    (@impl try_from $name:ident) => {
        impl ::core::convert::TryFrom<::std::string::String> for $name {
            type Error = ::std::string::String;

            fn try_from(
                text: ::std::string::String,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                Self::parse(&text).ok_or_else(|| {
                    ::std::format!("unknown {} {text:?}", ::core::stringify!($name))
                })
            }
        }
    };
    (@impl display $name:ident) => {
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };

    // What callers write (last, so the internal `@` forms above are tried first). Texts are
    // taken as `tt`, not `literal`: a `literal` fragment reaches derive macros wrapped in an
    // invisible group, which utoipa's attribute parser skips, and the schema would then
    // list the variants' names (`as_str`'s `match` still refuses a text that is no string).
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
        $(impl $($option:tt)+)?
    ) => {
        $crate::text_enum!(@options
            {
                $(#[$meta])*
                $vis enum $name { $( $(#[$variant_meta])* $variant = $text ),+ }
            }
            serde: []
            impls: []
            rest: [$($($option)+)?]
        );
    };
}

/// Asserts, in a test, that every value of each [`text_enum!`](crate::text_enum!) named
/// reads back from its text: `parse(v.as_str()) == Some(v)`.
#[macro_export]
macro_rules! assert_texts_round_trip {
    ($($name:ty),+ $(,)?) => {
        $(
            for value in <$name>::ALL {
                ::core::assert_eq!(
                    <$name>::parse(value.as_str()),
                    ::core::option::Option::Some(value),
                    "{} {:?} reads back from {:?}",
                    ::core::stringify!($name),
                    value,
                    value.as_str()
                );
            }
        )+
    };
}

/// Whether no two of `texts` are equal: [`text_enum!`](crate::text_enum!)'s compile-time
/// check.
#[doc(hidden)]
pub const fn distinct(texts: &[&str]) -> bool {
    let mut i = 0;
    while i < texts.len() {
        let mut j = i + 1;
        while j < texts.len() {
            if same(texts[i].as_bytes(), texts[j].as_bytes()) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// Texts that are not identifiers, serde by text, and every impl.
        #[derive(utoipa::ToSchema)]
        pub enum Outcome {
            Success = "Success",
            /// Another attempt follows.
            FailedAttempt = "Failed Attempt",
            Failure = "failure",
        }
        impl Serialize, TryFrom<String>, Display;
    }

    crate::text_enum! {
        /// No impl at all.
        enum Bare {
            One = "one",
        }
    }

    #[test]
    fn values_read_back_from_their_texts_and_nothing_else_parses() {
        crate::assert_texts_round_trip!(Outcome, Bare);
        assert_eq!(
            Outcome::parse("Failed Attempt"),
            Some(Outcome::FailedAttempt)
        );
        assert_eq!(Outcome::parse("failed attempt"), None);
        assert_eq!(Outcome::parse(""), None);
        assert_eq!(Bare::ALL.len(), 1);
    }

    #[test]
    fn serde_display_and_try_from_use_the_texts() {
        assert_eq!(
            serde_json::to_string(&Outcome::ALL).expect("serialises"),
            r#"["Success","Failed Attempt","failure"]"#
        );
        assert_eq!(
            format!("[{:>16}]", Outcome::FailedAttempt),
            "[  Failed Attempt]"
        );
        assert_eq!(
            Outcome::try_from("failure".to_owned()),
            Ok(Outcome::Failure)
        );
        assert_eq!(
            Outcome::try_from("later".to_owned()),
            Err(r#"unknown Outcome "later""#.to_owned())
        );
    }

    #[test]
    fn the_openapi_schema_lists_the_texts() {
        let schema = <Outcome as utoipa::PartialSchema>::schema();
        let schema = serde_json::to_value(schema).expect("serialises");
        assert_eq!(
            schema["enum"],
            serde_json::json!(["Success", "Failed Attempt", "failure"])
        );
    }

    #[test]
    fn texts_are_distinct_only_when_no_two_are_equal() {
        assert!(super::distinct(&[]));
        assert!(super::distinct(&["a", "ab", "b"]));
        assert!(!super::distinct(&["a", "b", "a"]));
    }
}
