//! Weights files written by the tests: NumPy `.npz` and `.safetensors`.

use std::fmt::Write as _;
use std::path::Path;

/// An array to store in a test weights file.
#[derive(Clone, Debug)]
pub enum Array {
    /// int8 values with a shape.
    I8(Vec<usize>, Vec<i8>),
    /// int16 values with a shape.
    I16(Vec<usize>, Vec<i16>),
    /// float32 values with a shape.
    F32(Vec<usize>, Vec<f32>),
}

fn npy(a: &Array) -> Vec<u8> {
    let (descr, shape, data): (&str, &Vec<usize>, Vec<u8>) = match a {
        Array::I8(s, v) => ("|i1", s, v.iter().map(|&x| x as u8).collect()),
        Array::I16(s, v) => ("<i2", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Array::F32(s, v) => ("<f4", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Write a NumPy `.npz` holding `arrays`.
pub fn write_npz(path: &Path, arrays: &[(&str, Array)]) {
    let file = std::fs::File::create(path).expect("create npz");
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, a) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .expect("zip entry");
        std::io::Write::write_all(&mut zip, &npy(a)).expect("zip data");
    }
    zip.finish().expect("finish npz");
}

/// Write a `.safetensors` file holding `arrays`.
pub fn write_safetensors(path: &Path, arrays: &[(&str, Array)]) {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, a)) in arrays.iter().enumerate() {
        let (dtype, shape, bytes): (&str, &Vec<usize>, Vec<u8>) = match a {
            Array::I8(s, v) => ("I8", s, v.iter().map(|&x| x as u8).collect()),
            Array::I16(s, v) => ("I16", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Array::F32(s, v) => ("F32", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            header.push(',');
        }
        let _ = write!(
            header,
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            dims.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    std::fs::write(path, out).expect("write safetensors");
}
