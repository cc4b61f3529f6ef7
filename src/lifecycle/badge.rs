//! The download badge: a small flat SVG, like the shields README badges use, drawn from
//! text only (no fonts or scripts to load).

use super::downloads::short_count;

/// Width of one character in the badge's 11 px sans-serif, close enough for digits and
/// lowercase letters.
const CHAR_WIDTH: usize = 7;
const PADDING: usize = 10;

pub fn svg(downloads: u64) -> String {
    let (label, value) = ("downloads", short_count(downloads));
    let lw = label.len() * CHAR_WIDTH + PADDING;
    let vw = value.len() * CHAR_WIDTH + PADDING;
    let w = lw + vw;
    let (lx, vx) = (lw / 2, lw + vw / 2);
    // The value is digits and a unit letter: nothing in it needs escaping.
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="#007ec6"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn says_the_count_and_grows_with_it() {
        let small = super::svg(7);
        assert!(small.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(small.contains("<title>downloads: 7</title>"));
        let big = super::svg(1_234_567);
        assert!(big.contains(">1.2M</text>"));
        let width = |s: &str| s.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse::<u32>().unwrap();
        assert!(width(&big) > width(&small));
    }
}
