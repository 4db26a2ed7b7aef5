# Defines the imported target sasmint::crypto: OpenSSL 3's libcrypto or Android's BoringSSL.
# Never both in one binary: BoringSSL's symbols are unversioned and clash with OpenSSL's.
if(SASMINT_CRYPTO STREQUAL "openssl")
  find_package(OpenSSL 3 REQUIRED COMPONENTS Crypto)
  add_library(sasmint_crypto INTERFACE)
  target_link_libraries(sasmint_crypto INTERFACE OpenSSL::Crypto)
  target_compile_definitions(sasmint_crypto INTERFACE SASMINT_CRYPTO_OPENSSL=1)
elseif(SASMINT_CRYPTO STREQUAL "boringssl")
  set(SASMINT_BORINGSSL_INCLUDE_DIR "/usr/include/android" CACHE PATH "BoringSSL headers")
  # Debian ships no unversioned development link for Android's libcrypto: use the full path.
  set(SASMINT_BORINGSSL_LIBRARY "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android/libcrypto.so.0"
      CACHE FILEPATH "BoringSSL libcrypto")
  if(NOT EXISTS "${SASMINT_BORINGSSL_INCLUDE_DIR}/openssl/base.h" OR
     NOT EXISTS "${SASMINT_BORINGSSL_LIBRARY}")
    message(FATAL_ERROR "BoringSSL not found: install android-libboringssl-dev")
  endif()
  add_library(sasmint_crypto INTERFACE)
  target_include_directories(sasmint_crypto SYSTEM BEFORE INTERFACE "${SASMINT_BORINGSSL_INCLUDE_DIR}")
  target_link_libraries(sasmint_crypto INTERFACE "${SASMINT_BORINGSSL_LIBRARY}")
  target_compile_definitions(sasmint_crypto INTERFACE SASMINT_CRYPTO_BORINGSSL=1)
else()
  message(FATAL_ERROR "SASMINT_CRYPTO must be openssl or boringssl, not '${SASMINT_CRYPTO}'")
endif()
add_library(sasmint::crypto ALIAS sasmint_crypto)
