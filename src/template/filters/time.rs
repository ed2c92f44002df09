//! Dates and times on the controller: the `strftime` filter (Python's `time.strftime`, local time or UTC) and
//! the `now()` global (a datetime with Python's attributes and `strftime`/`isoformat`, or a string with `fmt`).

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value};
use minijinja::{Environment, Error, State};

use super::fail;

/// Python `strftime` on a time: `%f` is the microseconds, which `time.strftime` leaves as it is (`micros`
/// None) and `datetime.strftime` fills in.
fn format(t: &jiff::ZonedDateTime, fmt: &str, micros: Option<u32>) -> Result<String, Error> {
    // Directive by directive: `%%` stays itself; `%f`, and the C locale's `%c`, `%x`, `%X`, `%r` (which jiff
    // spells otherwise) become what Python prints.
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => match micros {
                Some(us) => out.push_str(&format!("{us:06}")),
                None => out.push_str("%%f"),
            },
            Some('c') => out.push_str("%a %b %e %H:%M:%S %Y"),
            Some('x') => out.push_str("%m/%d/%y"),
            Some('X') => out.push_str("%H:%M:%S"),
            Some('r') => out.push_str("%I:%M:%S %p"),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    let fmt = out;
    jiff::fmt::strtime::format(&fmt, t).map_err(|e| fail(format!("strftime: cannot format with '{fmt}': {e}")))
}

/// `'%Y-%m-%d' | strftime(second=None, utc=False)`.
fn strftime(fmt: String, second: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let utc: Option<bool> = kwargs.get("utc")?;
    let second: Option<Value> = second.or(kwargs.get::<Option<Value>>("second")?);
    kwargs.assert_all_used()?;
    let at = match second.filter(|s| !s.is_none()) {
        None => jiff::Timestamp::now(),
        Some(s) => {
            let secs: f64 = match s.as_str() {
                Some(text) => text.trim().parse().ok(),
                None => f64::try_from(s.clone()).ok(),
            }
            .ok_or_else(|| fail(format!("Invalid value for epoch value ({s})")))?;
            jiff::Timestamp::from_second(secs.floor() as i64).map_err(|e| fail(format!("Invalid value for epoch value ({s}): {e}")))?
        }
    };
    let tz = if utc.unwrap_or(false) { jiff::tz::TimeZone::UTC } else { jiff::tz::TimeZone::system() };
    format(&at.to_zoned_datetime(tz), &fmt, None)
}

/// A Python `datetime` (naive, as Ansible's `now()` returns it): prints as `str(datetime)`.
#[derive(Debug)]
struct DateTime(jiff::ZonedDateTime);

impl DateTime {
    fn micros(&self) -> u32 {
        (self.0.subsec_nanosecond() / 1000) as u32
    }
    fn isoformat(&self, sep: &str) -> String {
        let us = self.micros();
        let frac = if us == 0 { String::new() } else { format!(".{us:06}") };
        format!("{}{sep}{}{frac}", self.0.strftime("%Y-%m-%d"), self.0.strftime("%H:%M:%S"))
    }
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = &self.0;
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(t.year()),
            "month" => i64::from(t.month()),
            "day" => i64::from(t.day()),
            "hour" => i64::from(t.hour()),
            "minute" => i64::from(t.minute()),
            "second" => i64::from(t.second()),
            "microsecond" => i64::from(self.micros()),
            _ => return None,
        }))
    }
    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let arg = |i: usize| args.get(i).and_then(Value::as_str).map(str::to_string);
        match method {
            "strftime" => {
                let fmt = arg(0).ok_or_else(|| fail("strftime() needs a format"))?;
                format(&self.0, &fmt, Some(self.micros())).map(Value::from)
            }
            "isoformat" => Ok(Value::from(self.isoformat(&arg(0).unwrap_or_else(|| "T".into())))),
            "timestamp" => Ok(Value::from(self.0.timestamp().as_microsecond() as f64 / 1e6)),
            "weekday" => Ok(Value::from(self.0.weekday().to_monday_zero_offset())),
            "isoweekday" => Ok(Value::from(self.0.weekday().to_monday_one_offset())),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

/// `now(utc=False, fmt=None)`.
fn now(kwargs: Kwargs) -> Result<Value, Error> {
    let utc: Option<bool> = kwargs.get("utc")?;
    let fmt: Option<String> = kwargs.get("fmt")?;
    kwargs.assert_all_used()?;
    let tz = if utc.unwrap_or(false) { jiff::tz::TimeZone::UTC } else { jiff::tz::TimeZone::system() };
    let t = DateTime(jiff::Timestamp::now().to_zoned_datetime(tz));
    match fmt {
        Some(f) => format(&t.0, &f, Some(t.micros())).map(Value::from),
        None => Ok(Value::from_object(t)),
    }
}

pub fn register(env: &mut Environment<'static>) {
    super::add(env, "strftime", strftime);
    env.add_function("now", now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(src, ()).unwrap()
    }

    #[test]
    fn strftime_formats_an_epoch_in_utc_or_local_time_as_python_does() {
        assert_eq!(render("{{ '%Y-%m-%d %H:%M:%S %f' | strftime(0, utc=true) }}"), "1970-01-01 00:00:00 %f");
        assert_eq!(render("{{ '%H:%M' | strftime('3600.9', utc=true) }}"), "01:00");
        assert_eq!(render("{{ '%Y' | strftime }}").len(), 4);
    }

    #[test]
    fn now_is_a_datetime_with_pythons_attributes_and_methods() {
        let out = render(
            "{{ now(utc=true) }}|{{ now(utc=true).year }}|{{ now(fmt='%Y') }}|{{ now().strftime('%f') | length }}|{{ now(utc=true).isoformat() }}",
        );
        let parts: Vec<&str> = out.split('|').collect();
        let year = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).year().to_string();
        assert!(parts[0].starts_with(&format!("{year}-")) && parts[0].as_bytes()[10] == b' ', "{out}");
        assert_eq!((parts[1], parts[2], parts[3]), (year.as_str(), year.as_str(), "6"));
        assert!(parts[4].contains('T'), "{out}");
        let mut env = Environment::new();
        register(&mut env);
        assert!(env.render_str("{{ now(bogus=1) }}", ()).is_err(), "an argument now() does not take");
    }
}
