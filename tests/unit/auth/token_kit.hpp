#pragma once
// Test-only token minting, independent of the code under test: libjwt (a separate JWS implementation) for ordinary
// tokens, and raw OpenSSL for what libjwt refuses to make (alg none, crafted headers, DER ES256 signatures).
// Keys are generated at test time and written as PEM files into a fresh temporary directory.
#include <jwt.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdlib.h>  // mkdtemp
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace token_kit {

inline std::string b64url(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) {
        out.push_back(alphabet[(acc << (6 - bits)) & 63]);
    }
    return out;
}

inline std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<unsigned char const*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

// header.claims.signature with an HS256 MAC over whatever header and claims text we like.
inline std::string raw_hs256(std::string_view header_json, std::string_view claims_json, std::string_view secret) {
    std::string input = b64url(header_json) + "." + b64url(claims_json);
    return input + "." + b64url(hmac_sha256(secret, input));
}

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

inline std::string private_pem(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

inline std::string public_pem(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, k);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

// A self-signed certificate for `k`, as PEM (the verifier accepts a certificate in place of a public key).
inline std::string certificate_pem(EVP_PKEY* k) {
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<unsigned char const*>("test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, k, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    X509_free(x);
    return out;
}

inline pkey_ptr rsa_key(unsigned bits) {
    return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}
inline pkey_ptr ec_key(char const* curve) {
    return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}
inline pkey_ptr ed25519_key() {
    return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

// Signs `input` with SHA-256 and `k`; for EC keys returns the DER signature as OpenSSL makes it.
inline std::string sign_sha256(EVP_PKEY* k, std::string_view input) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<unsigned char const*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<unsigned char const*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

// DER ECDSA-Sig-Value -> JWS r || s (32 bytes each).
inline std::string der_to_raw_es256(std::string_view der) {
    auto const* p = reinterpret_cast<unsigned char const*>(der.data());
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    std::string out(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(out.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
    ECDSA_SIG_free(s);
    return out;
}

// RS256 / ES256 by hand: `raw_es256` false keeps OpenSSL's DER signature (which a JWS verifier must refuse).
inline std::string raw_signed(EVP_PKEY* k, std::string_view header_json, std::string_view claims_json,
                              bool raw_es256 = true) {
    std::string input = b64url(header_json) + "." + b64url(claims_json);
    std::string sig = sign_sha256(k, input);
    if (EVP_PKEY_is_a(k, "EC") && raw_es256) {
        sig = der_to_raw_es256(sig);
    }
    return input + "." + b64url(sig);
}

// libjwt: claims as JSON text, key = secret (HS*) or private key PEM (RS*/ES*).
inline std::string libjwt_mint(jwt_alg_t alg, std::string_view key, std::string const& claims_json) {
    jwt_t* j = nullptr;
    if (jwt_new(&j) != 0) {
        throw std::runtime_error("jwt_new");
    }
    std::unique_ptr<jwt_t, void (*)(jwt_t*)> guard(j, jwt_free);
    if (jwt_add_grants_json(j, claims_json.c_str()) != 0) {
        throw std::runtime_error("jwt_add_grants_json");
    }
    if (jwt_set_alg(j, alg, reinterpret_cast<unsigned char const*>(key.data()), static_cast<int>(key.size())) != 0) {
        throw std::runtime_error("jwt_set_alg");
    }
    char* s = jwt_encode_str(j);
    if (s == nullptr) {
        throw std::runtime_error("jwt_encode_str");
    }
    std::string out(s);
    std::free(s);  // libjwt 1.10 has no jwt_free_str
    return out;
}

// A fresh directory under the system temp dir, removed with its files on destruction.
class temp_dir {
  public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pusher-auth-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;

    std::string write(std::string const& name, std::string_view content) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
    std::string path(std::string const& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

}  // namespace token_kit
