//! The embedded font really draws the scripts captions are written in: every character of sample
//! sentences has its own glyph (not .notdef) with an outline, and characters the font lacks are
//! dropped rather than drawn as boxes.

use reelsmith_core::FrameSize;
use reelsmith_media::captions::{build_cues, CaptionLayout};
use reelsmith_media::text::Font;
use reelsmith_media::timing::WordTiming;

const SAMPLES: &[(&str, &str)] = &[
    ("English", "The quick brown fox jumps over the lazy dog! 0123456789 (a+b) = 50% #1 @home"),
    ("French", "Voix ambiguë d'un cœur qui, au zéphyr, préfère les jattes de kiwis. À l'été, Ève."),
    ("German", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. Äpfel, Öl, Übel."),
    ("Spanish", "El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío, añoraba a su querido cachorro. ¿Sí? ¡Ñandú!"),
    ("Portuguese", "Luís argüia à Júlia que «brações, fé, chá, óxido, pôr, zângão» eram palavras do português."),
    ("Polish", "Pchnąć w tę łódź jeża lub ośm skrzyń fig. Źle, Łódź."),
    ("Hungarian", "Árvíztűrő tükörfúrógép, ŐSZ, Űr."),
    ("Czech", "Příliš žluťoučký kůň úpěl ďábelské ódy. Ř, Ů."),
    ("Nordic", "Høj bøf, æble og Åse; Ærø, Øresund, Þórsmörk, Ísland."),
    ("Turkish", "Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul, Ğ, Ş."),
    ("Romanian", "Înțelepciunea îi păzește pe cei ce știu: ș, ț, ă, â, î, Ș, Ț."),
    ("Russian", "Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка, Щука, Ъ."),
    ("Ukrainian", "Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів! Ї, Є, Ґ."),
    ("Serbian", "Ђорђе, Ћирилица, Џак, љубав, њива; Ѓ, Ќ, Ѕ."),
    ("Punctuation", "“Quotes” ‘single’ — dash – en… «guillemets» „unten“ €5 £3 ¥9"),
];

#[test]
fn every_character_of_the_sample_sentences_has_a_real_glyph() {
    let font = Font::caption();
    for (script, sentence) in SAMPLES {
        for c in sentence.chars().filter(|c| !c.is_whitespace()) {
            let id = font.glyph_for(c);
            assert!(
                id.is_some_and(|id| id.0 != 0),
                "{script}: {c:?} (U+{:04X}) has no glyph",
                c as u32
            );
            assert!(
                font.measure(&c.to_string(), 40.0) > 0.0,
                "{script}: {c:?} has no advance"
            );
        }
        assert_eq!(
            font.drawable_text(sentence),
            *sentence,
            "{script}: nothing may be dropped"
        );
    }
}

#[test]
fn sample_glyphs_have_ink() {
    use reelsmith_media::text::GlyphCache;
    let mut cache = GlyphCache::new(Font::caption());
    for (script, sentence) in SAMPLES {
        for c in sentence.chars().filter(|c| c.is_alphabetic()) {
            let id = Font::caption().glyph_for(c).unwrap();
            let bitmap = cache.glyph(id, 32.0);
            let ink: u32 = bitmap.coverage.iter().map(|&v| v as u32).sum();
            assert!(
                ink > 255 * 5,
                "{script}: {c:?} rasterizes to almost nothing"
            );
        }
    }
}

#[test]
fn characters_without_glyphs_are_dropped_not_boxed() {
    let font = Font::caption();
    let crab = '\u{1F980}';
    let cjk = '\u{4E2D}';
    assert!(!font.has_glyph(crab) && !font.has_glyph(cjk));
    assert_eq!(font.drawable_text("Rust 🦀 is fun 中"), "Rust is fun");

    let words = [
        WordTiming::new("Rust", 0.0, 0.4),
        WordTiming::new("🦀", 0.4, 0.8),
        WordTiming::new("is", 0.8, 1.0),
        WordTiming::new("fun🦀!", 1.0, 1.5),
    ];
    let cues = build_cues(&words, &CaptionLayout::for_frame(FrameSize::new(1280, 720)));
    let shown: Vec<String> = cues.iter().flat_map(|c| c.line_texts()).collect();
    assert_eq!(shown.join(" "), "Rust is fun!");
}
